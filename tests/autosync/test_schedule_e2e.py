"""Schedules end to end: durable timers in the scheduler orchestration start ordinary
incremental runs, recorded with trigger ``schedule``; never a second run while one is active."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from azure.storage.blob import ContainerClient

import mediagen
from blobsync_cli.cli import run as cli_run
from tests.autosync.conftest import Service


def runs(service: Service, org: str, conn: str) -> list[dict[str, Any]]:
    r = service.api.http.get(f"/api/orgs/{org}/connections/{conn}/syncs")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return sorted(items, key=lambda x: x["startedAt"])


def wait_until(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.3)


def put_schedule(service: Service, org: str, conn: str, body: dict[str, Any]) -> Any:
    return service.api.http.request(
        "PUT", f"/api/orgs/{org}/connections/{conn}/schedule", json=body
    )


def stop_and_settle(service: Service, org: str, conn: str) -> None:
    assert put_schedule(service, org, conn, {"mode": "off"}).status_code == 200
    wait_until(
        "runs to end",
        lambda: all(r["finishedAt"] for r in runs(service, org, conn)),
        timeout=120,
    )


def test_a_schedule_runs_incremental_syncs_until_turned_off(
    service: Service, container: ContainerClient, unique_name: str
) -> None:
    files = mediagen.mixed_set(8, seed=9, image_size=(120, 90), video_seconds=0.3)
    for name, data in files:
        container.upload_blob(name, data)
    org = f"org-{unique_name}"
    service.api.put_org(org)
    conn = service.api.connect(org, account=service.account, container=container.container_name)

    r = put_schedule(service, org, conn, {"mode": "interval", "everySeconds": 4})
    assert r.status_code == 200, r.text
    assert r.json()["schedule"]["everySeconds"] == 4
    assert r.json()["schedule"]["nextDue"]
    try:
        first = wait_until(
            "a scheduled run",
            lambda: [x for x in runs(service, org, conn) if x["finishedAt"]],
        )[0]
        assert first["trigger"] == "schedule"
        assert first["status"] == "completed"
        assert first["counts"]["synced"] + first["counts"]["skipped"] + first["counts"][
            "ignored"
        ] == len(files)

        container.upload_blob("later/new.png", mediagen.images.png(40, 30, seed=2))
        later = wait_until(
            "an incremental scheduled run",
            lambda: [
                x
                for x in runs(service, org, conn)
                if x["finishedAt"] and x["startedAt"] > first["startedAt"]
            ],
        )
        # Which run sees the new blob depends on timing; the run after it changes nothing.
        counts = [x["counts"] for x in later]
        assert all(x["trigger"] == "schedule" for x in later)
        assert any(c["synced"] == 1 and c["unchanged"] == len(files) for c in counts) or (
            wait_until(
                "the run that adds the new blob",
                lambda: [
                    x
                    for x in runs(service, org, conn)
                    if x["finishedAt"] and x["counts"]["synced"] == 1
                ],
            )
        )
    finally:
        stop_and_settle(service, org, conn)
    settled = len(runs(service, org, conn))
    time.sleep(9)  # two intervals: nothing fires after the schedule is off
    assert len(runs(service, org, conn)) == settled
    view = service.api.http.get(f"/api/orgs/{org}/connections/{conn}/autosync").json()
    assert view["schedule"] == {"mode": "off", "nextDue": None}


def test_a_schedule_never_starts_a_second_run_while_one_is_active(
    service: Service, container: ContainerClient, unique_name: str
) -> None:
    for name, data in mediagen.mixed_set(4, seed=5, image_size=(120, 90), video_seconds=0.3):
        container.upload_blob(name, data)
    org = f"org-{unique_name}"
    service.api.put_org(org)
    conn = service.api.connect(org, account=service.account, container=container.container_name)
    service.proxy.slow_container = container.container_name
    service.proxy.slow_seconds = 8
    try:
        started = service.api.start_sync(org, conn)
        assert started.status_code == 202, started.text
        manual = started.json()["runId"]
        assert (
            put_schedule(service, org, conn, {"mode": "interval", "everySeconds": 2}).status_code
            == 200
        )
        service.api.wait(org, conn, manual)  # ~4 due times pass while it lists
        service.proxy.slow_seconds = 0
        wait_until(
            "a scheduled run after the manual one",
            lambda: [x for x in runs(service, org, conn) if x["trigger"] == "schedule"],
        )
    finally:
        service.proxy.slow_seconds = 0
        stop_and_settle(service, org, conn)
        service.proxy.slow_container = ""
    history = runs(service, org, conn)
    by_id = {x["runId"]: x for x in history}
    end_of_manual = datetime.fromisoformat(by_id[manual]["finishedAt"])
    scheduled = [x for x in history if x["trigger"] == "schedule"]
    assert scheduled
    for x in scheduled:  # none started while the manual run was active
        gap = (datetime.fromisoformat(x["startedAt"]) - end_of_manual).total_seconds()
        assert gap > -0.5, (x, by_id[manual])
    spans = [
        (datetime.fromisoformat(x["startedAt"]), datetime.fromisoformat(x["finishedAt"]))
        for x in history
    ]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert (start - end).total_seconds() > -0.5  # never two runs at once


def test_schedule_validation_and_daily_next_due(service: Service, unique_name: str) -> None:
    org = f"org-{unique_name}"
    service.api.put_org(org)
    conn = service.api.connect(org, account=service.account, container="whatever")
    for body, field in (
        ({"mode": "interval"}, "everyHours"),
        ({"mode": "interval", "everyHours": 0}, "everyHours"),
        ({"mode": "interval", "everyHours": 200}, "everyHours"),
        ({"mode": "daily", "at": "25:00"}, "at"),
        ({"mode": "daily", "at": "02:30", "timeZone": "Mars/Olympus"}, "timeZone"),
        ({"mode": "weekly"}, "mode"),
    ):
        r = put_schedule(service, org, conn, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["errors"][0]["field"] == field
    r = put_schedule(service, org, conn, {"mode": "daily", "at": "02:30", "timeZone": "Asia/Tokyo"})
    assert r.status_code == 200, r.text
    try:
        due = datetime.fromisoformat(r.json()["schedule"]["nextDue"]).astimezone(
            ZoneInfo("Asia/Tokyo")
        )
        assert (due.hour, due.minute) == (2, 30)
        assert 0 < (due - datetime.now(ZoneInfo("Asia/Tokyo"))).total_seconds() <= 86400
    finally:
        assert put_schedule(service, org, conn, {"mode": "off"}).status_code == 200


def test_the_cli_sets_and_clears_a_schedule(
    service: Service, unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    org = f"org-{unique_name}"
    service.api.put_org(org)
    conn = service.api.connect(org, account=service.account, container="whatever")
    base = ["--base-url", service.host.base_url]
    assert cli_run([*base, "schedule", org, conn, "--every", "2h", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["schedule"]["everyHours"] == 2 and shown["schedule"]["nextDue"]
    assert cli_run([*base, "schedule", org, conn, "--every", "soon"]) == 2
    assert cli_run([*base, "schedule", org, conn, "--off"]) == 0
    assert "Schedule: off" in capsys.readouterr().out
    view = service.api.http.get(f"/api/orgs/{org}/connections/{conn}/autosync").json()
    assert view["schedule"] == {"mode": "off", "nextDue": None}
