"""Outages mid-sync: the customer's storage or the metadata store switched off for 60 s through
the loopback proxy. The run waits (saying so in its progress), then completes with exactly the
rows of an uninterrupted run; past the configured limit it fails with a clear code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import ContainerClient

import mediagen
from blobsync_cli.client import TERMINAL_STATUSES as TERMINAL
from devhost.azurite import DEV_ACCOUNT, Azurite, EmulatorAccount
from devhost.testing import DevHostProcess
from tests.sync.harness import Api, CountingProxy, running_service
from tests.sync.test_sync_e2e import (
    ROWS_PER_ASSET,
    connected,
    expected_outcomes,
    rows_by_name,
    usage_rows,
)

OUTAGE_SECONDS = 60


def _service(
    azurite: Azurite,
    platform: EmulatorAccount,
    customer: EmulatorAccount,
    workspace: Path,
    **env: str,
) -> Iterator[tuple[DevHostProcess, Api, CountingProxy]]:
    with running_service(
        azurite, platform, [customer], workspace, hub="SyncOutages", extra_env=env
    ) as running:
        yield running


@pytest.fixture(scope="module")
def patient(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DevHostProcess, Api, CountingProxy]]:
    """Waits out outages of up to 10 minutes, retrying after 1, 2, 4 ... s."""
    yield from _service(
        azurite,
        platform_account,
        customer_account,
        tmp_path_factory.mktemp("devhost-outages"),
        SYNC_OUTAGE_LIMIT_SECONDS="600",
        SYNC_OUTAGE_RETRY_SECONDS="1",
    )


@pytest.fixture(scope="module")
def impatient(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DevHostProcess, Api, CountingProxy]]:
    """Gives up after 5 s of continuous failure."""
    yield from _service(
        azurite,
        platform_account,
        customer_account,
        tmp_path_factory.mktemp("devhost-outages-short"),
        SYNC_OUTAGE_LIMIT_SECONDS="5",
        SYNC_OUTAGE_RETRY_SECONDS="1",
    )


@pytest.fixture(scope="module")
def files() -> list[tuple[str, bytes]]:
    return mediagen.mixed_set(
        240, seed=23, image_size=(256, 192), video_size=(64, 48), video_seconds=0.4
    )


def _views_through_outage(
    base_url: str, path: str, proxy: CountingProxy, switch_off: Any, after_processed: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Poll the run (tolerating failed reads); once it has handled ``after_processed`` blobs,
    switch the outage on for OUTAGE_SECONDS; return the views seen during it and the end."""
    seen: list[dict[str, Any]] = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        deadline = time.monotonic() + 120
        while True:
            view = http.get(path).json()
            assert view["status"] not in TERMINAL, "the run ended before the outage"
            if view["processed"] >= after_processed:
                break
            assert time.monotonic() < deadline, "no progress before the outage"
            time.sleep(0.05)
        switch_off()
        try:
            until = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < until:
                r = http.get(path)
                if r.status_code == 200:
                    seen.append(r.json())
                time.sleep(0.5)
        finally:
            proxy.restore()
        deadline = time.monotonic() + 300
        while True:
            r = http.get(path)
            if r.status_code == 200 and r.json()["status"] in TERMINAL:
                return seen, r.json()
            assert time.monotonic() < deadline, r.text
            time.sleep(0.3)


def _run_through(
    running: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    files: list[tuple[str, bytes]],
    unique_name: str,
    switch_off: Any,
) -> tuple[str, str, list[dict[str, Any]], dict[str, Any]]:
    host, api, proxy = running
    org, conn = connected(api, container, files, unique_name)
    started = api.start_sync(org, conn)
    assert started.status_code == 202, started.text
    path = f"/api/orgs/{org}/connections/{conn}/syncs/{started.json()['runId']}"
    seen, end = _views_through_outage(host.base_url, path, proxy, switch_off, 40)
    return org, conn, seen, end


def test_a_minute_without_the_customers_storage_is_waited_out(
    patient: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    files: list[tuple[str, bytes]],
    unique_name: str,
    platform_account: EmulatorAccount,
) -> None:
    _, api, proxy = patient
    org, conn, seen, end = _run_through(
        patient,
        container,
        files,
        unique_name,
        lambda: proxy.outage("blob", "/contosomedia/", mode="reset"),
    )

    assert end["status"] == "completed", end["error"]
    expected = expected_outcomes(files)
    assert rows_by_name(api, org, conn) == expected  # as if nothing had happened
    synced = sum(1 for s, _, _ in expected.values() if s == "synced")
    assert usage_rows(platform_account, org) == synced * ROWS_PER_ASSET
    assert end["counts"]["failed"] == 0
    # While it waited, the run said so: why, since when and when it retries.
    waiting = [v["waiting"] for v in seen if v.get("waiting")]
    assert waiting, "the progress never showed the run waiting"
    assert {w["reason"] for w in waiting} == {"sync_unreachable"}
    for w in waiting:
        assert datetime.fromisoformat(w["nextRetryAt"]) > datetime.fromisoformat(w["since"])
    assert end["waiting"] is None


def test_a_minute_without_the_metadata_store_is_waited_out(
    patient: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    files: list[tuple[str, bytes]],
    unique_name: str,
    platform_account: EmulatorAccount,
) -> None:
    _, api, proxy = patient

    def metadata_down() -> None:
        proxy.outage("table", "/", mode="busy")
        proxy.outage("blob", f"/{DEV_ACCOUNT}/", mode="busy")  # staged pages

    org, conn, _, end = _run_through(patient, container, files, unique_name, metadata_down)

    assert end["status"] == "completed", end["error"]
    expected = expected_outcomes(files)
    assert rows_by_name(api, org, conn) == expected
    synced = sum(1 for s, _, _ in expected.values() if s == "synced")
    assert usage_rows(platform_account, org) == synced * ROWS_PER_ASSET


def test_an_outage_past_the_limit_fails_the_run_with_a_clear_code(
    impatient: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    files: list[tuple[str, bytes]],
    unique_name: str,
) -> None:
    _, api, proxy = impatient
    org, conn = connected(api, container, files[:120], unique_name)
    proxy.outage("blob", "/contosomedia/", mode="busy")
    try:
        view = api.sync(org, conn)
    finally:
        proxy.restore()

    assert view["status"] == "failed"
    assert view["error"]["code"] == "sync_throttled"
    message = view["error"]["message"]
    assert message.startswith("The sync stopped while listing the container")
    assert "too busy" in message and "Activity" not in message and "Error" not in message
    # Not stuck: once storage answers, the next run completes.
    assert api.sync(org, conn)["status"] == "completed"


def test_a_storage_account_that_does_not_exist_fails_at_once(
    impatient: tuple[DevHostProcess, Api, CountingProxy], unique_name: str
) -> None:
    _, api, _ = impatient
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account="nosuchaccount", container="media")

    view = api.sync(org, conn)

    assert view["status"] == "failed"
    assert view["error"]["code"] == "sync_account_not_found"
    assert "account name" in view["error"]["message"]
