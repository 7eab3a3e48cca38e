"""Blob events end to end: Event Grid and CloudEvents deliveries posted to the real app under
the dev host produce exactly the rows a full sync produces, and a full re-sync afterwards finds
nothing to change."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from azure.storage.blob import ContainerClient

import mediagen
from tests.autosync.conftest import (
    BlobChange,
    Service,
    cloud_event,
    created,
    deleted,
    eventgrid_event,
    post_events,
)

FIELDS = ("status", "reason", "kind", "format", "etag", "size", "width", "height", "dataRows")
EG = "application/json"
CE_BATCH = "application/cloudevents-batch+json"
CE_ONE = "application/cloudevents+json"


def rows(
    service: Service, org: str, conn: str, fields: tuple[str, ...] = FIELDS
) -> dict[str, tuple[Any, ...]]:
    return {
        a["name"]: tuple(a[f] for f in fields)
        for a in service.api.assets(org, conn)
        if a["status"] != "removed"
    }


def enable_events(service: Service, org: str, conn: str) -> dict[str, Any]:
    r = service.api.http.post(f"/api/orgs/{org}/connections/{conn}/events")
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def asset_counts(service: Service, org: str, conn: str) -> dict[str, int]:
    r = service.api.http.get(f"/api/orgs/{org}/connections/{conn}")
    assert r.status_code == 200, r.text
    counts: dict[str, int] = r.json()["assetCounts"]
    return counts


def counts_of_rows(service: Service, org: str, conn: str) -> dict[str, int]:
    out = {"synced": 0, "skipped": 0, "removed": 0, "ignored": 0}
    for a in service.api.assets(org, conn):
        out[a["status"]] += 1
    return out


def used(service: Service, org: str) -> int:
    r = service.api.http.get(f"/api/orgs/{org}/usage")
    assert r.status_code == 200, r.text
    return int(r.json()["used"])


def test_events_produce_the_rows_a_full_sync_would(
    service: Service, container: ContainerClient, unique_name: str
) -> None:
    api, raw, account = service.api, service.raw, service.account
    cname = container.container_name
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account=account, container=cname, prefix="cam/", name="events")
    reference = api.connect(org, account=account, container=cname, prefix="cam/", name="full")

    setup = enable_events(service, org, conn)
    key = setup["eventKey"]
    subscribe = setup["commands"][1]
    assert f"--subject-begins-with '/blobServices/default/containers/{cname}/blobs/cam/'" in (
        subscribe
    )
    assert "Microsoft.Storage.BlobCreated Microsoft.Storage.BlobDeleted" in subscribe
    assert setup["endpoint"].endswith(f"/api/events/{org}/{conn}")
    shown = api.http.get(f"/api/orgs/{org}/connections/{conn}/autosync")
    assert shown.json()["events"]["enabled"] is True
    assert key not in shown.text  # the key is returned once, never again

    # The two validation handshakes.
    validation = [
        {
            "id": "v1",
            "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.EventGrid/topics/t",
            "subject": "",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-11-29T05:00:00Z",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "dataVersion": "2",
            "metadataVersion": "1",
        }
    ]
    r = post_events(raw, org, conn, None, validation, EG)
    assert r.status_code == 200, r.text
    assert r.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    r = raw.request(
        "OPTIONS",
        f"/api/events/{org}/{conn}",
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
    )
    assert r.status_code == 200
    assert r.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"

    # The container: media under the prefix, one blob outside it, one deleted, one overwritten.
    files = mediagen.mixed_set(
        16, seed=11, image_size=(160, 120), video_size=(64, 48), video_seconds=0.3
    )
    names = [f"cam/{n}" for n, _ in files]
    for name, (_, data) in zip(names, files, strict=True):
        container.upload_blob(name, data, overwrite=True)
    fresh = [created(container, n) for n in names]
    container.upload_blob("other/outside.jpg", files[0][1])
    outside = created(container, "other/outside.jpg")
    container.upload_blob("cam/gone.png", files[1][1])
    gone_created = created(container, "cam/gone.png")
    container.delete_blob("cam/gone.png")
    gone_deleted = deleted("cam/gone.png")
    container.upload_blob("cam/over.png", files[2][1])
    over_v1 = created(container, "cam/over.png")
    container.upload_blob("cam/over.png", files[3][1], overwrite=True)
    over_v2 = created(container, "cam/over.png")
    other_account = BlobChange("created", names[0], fresh[0].etag, fresh[0].sequencer, "x-acct")

    # A wrong or missing key changes nothing.
    everything = [eventgrid_event(c, account, cname) for c in fresh]
    for bad in ("evk_wrong", None):
        r = post_events(raw, org, conn, bad, everything, EG)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "event_key_invalid"
        assert "evk_" not in r.text
    assert api.assets(org, conn) == []

    half = len(fresh) // 2
    batch1 = [eventgrid_event(c, account, cname) for c in fresh[:half]]
    batch1 += [
        eventgrid_event(outside, account, cname),  # outside the prefix
        eventgrid_event(gone_deleted, account, cname),  # the delete before its create
        eventgrid_event(over_v2, account, cname),  # the newer version first
        eventgrid_event(other_account, "someoneelse", cname),  # another account's topic
    ]
    r = post_events(raw, org, conn, key, batch1, EG)
    assert r.status_code == 200, r.text
    first_counts = r.json()["counts"]
    assert first_counts["outOfScope"] == 2, first_counts

    batch2 = [cloud_event(c, account, cname) for c in fresh[half:]]
    batch2 += [cloud_event(gone_created, account, cname), cloud_event(over_v1, account, cname)]
    r = post_events(raw, org, conn, key, batch2, CE_BATCH)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["stale"] == 1  # over_v1 is older than what the row holds

    duplicate = cloud_event(fresh[0], account, cname)
    r = post_events(raw, org, conn, key, duplicate, CE_ONE)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["stale"] == 1
    charged = used(service, org)
    r = post_events(raw, org, conn, key, batch1, EG)  # Event Grid redelivers a whole batch
    assert r.status_code == 200, r.text
    assert used(service, org) == charged

    by_events = rows(service, org, conn)
    assert asset_counts(service, org, conn) == counts_of_rows(service, org, conn)
    assert "other/outside.jpg" not in by_events
    assert "cam/gone.png" not in by_events
    current = str(container.get_blob_client("cam/over.png").get_blob_properties().etag)
    assert by_events["cam/over.png"][FIELDS.index("etag")] == current.strip('"')

    # The reference: a full sync of the same scope.
    view = api.sync(org, reference)
    assert view["status"] == "completed", view
    assert rows(service, org, reference) == by_events
    synced = sum(1 for r in by_events.values() if r[0] == "synced")
    assert used(service, org) == 2 * synced * 5  # each connection charged once per asset

    # A full re-sync of the events connection finds nothing to change.
    again = api.sync(org, conn)
    assert again["status"] == "completed", again
    c = again["counts"]
    assert (c["added"], c["updated"], c["removed"], c["skipped"], c["failed"]) == (0, 0, 0, 0, 0)
    assert c["unchanged"] == len(by_events)
    assert rows(service, org, conn) == by_events
    assert used(service, org) == 2 * synced * 5

    # A delete now marks the row removed; a late create of the deleted blob does not revive it.
    victim = names[4]
    victim_created = fresh[4]
    container.delete_blob(victim)
    r = post_events(raw, org, conn, key, [eventgrid_event(deleted(victim), account, cname)], EG)
    assert r.status_code == 200 and r.json()["counts"]["removed"] == 1, r.text
    r = post_events(raw, org, conn, key, [eventgrid_event(victim_created, account, cname)], EG)
    assert r.json()["counts"]["stale"] == 1
    statuses = {a["name"]: a["status"] for a in api.assets(org, conn)}
    assert statuses[victim] == "removed"
    assert asset_counts(service, org, conn) == counts_of_rows(service, org, conn)
    final = api.sync(org, conn)["counts"]
    assert (final["added"], final["updated"], final["removed"]) == (0, 0, 0)
    assert key not in service.host.log_text()  # the key is never logged


def test_bad_deliveries_are_4xx_problems(service: Service, unique_name: str) -> None:
    org = f"org-{unique_name}"
    service.api.put_org(org)
    conn = service.api.connect(org, account=service.account, container="nothing", name="bad")
    key = enable_events(service, org, conn)["eventKey"]
    for body, ctype in (("not json", EG), ({"a": 1}, EG), ([{"id": "x"}], EG), ([], EG)):
        text = body if isinstance(body, str) else json.dumps(body)
        r = service.raw.post(
            f"/api/events/{org}/{conn}",
            content=text,
            headers={"content-type": ctype, "X-Blobsync-Event-Key": key},
        )
        assert r.status_code == 400, (body, r.text)
        assert r.json()["code"] == "validation_failed"
    # Events disabled: the key no longer works.
    r = service.api.http.request("DELETE", f"/api/orgs/{org}/connections/{conn}/events")
    assert r.status_code == 204
    change = BlobChange("created", "a.jpg", "0x1", "01")
    r = post_events(
        service.raw, org, conn, key, [eventgrid_event(change, service.account, "x")], EG
    )
    assert r.status_code == 401


def test_a_burst_of_1000_created_events_in_batches(
    service: Service, container: ContainerClient, unique_name: str
) -> None:
    api, account, cname = service.api, service.account, container.container_name
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account=account, container=cname, name="burst")
    key = enable_events(service, org, conn)["eventKey"]
    image = mediagen.images.png(32, 24, seed=5)
    names = [f"burst/{i:04d}.png" for i in range(1000)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: container.upload_blob(n, image), names))
    changes = [created(container, n) for n in names]
    batches = [changes[i : i + 100] for i in range(0, 1000, 100)]

    def deliver(batch: list[BlobChange]) -> httpx.Response:
        with httpx.Client(base_url=service.host.base_url, timeout=300) as client:
            body = [cloud_event(c, account, cname) for c in batch]
            return post_events(client, org, conn, key, body, CE_BATCH)

    began = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:  # Event Grid delivers batches concurrently
        answers = list(pool.map(deliver, batches))
    elapsed = time.perf_counter() - began
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    found = api.assets(org, conn, status="synced")
    assert len(found) == 1000
    print(f"\n1000 BlobCreated events in 10 batches of 100: first event to last row {elapsed:.1f}s")
    assert used(service, org) == 1000 * 5
    full = api.connect(org, account=account, container=cname, name="burst-full")
    began = time.perf_counter()
    assert api.sync(org, full)["counts"]["synced"] == 1000
    print(f"the same 1000 blobs by a first full sync: {time.perf_counter() - began:.1f}s")


def test_events_during_a_full_run_are_applied_when_it_ends(
    service: Service, container: ContainerClient, unique_name: str
) -> None:
    api, raw, account, cname = service.api, service.raw, service.account, container.container_name
    org = f"org-{unique_name}"
    api.put_org(org)
    files = mediagen.mixed_set(8, seed=21, image_size=(120, 90), video_seconds=0.3)
    names = [f"cam/{n}" for n, _ in files]
    for name, (_, data) in zip(names, files, strict=True):
        container.upload_blob(name, data)
    conn = api.connect(org, account=account, container=cname, prefix="cam/", name="during")
    key = enable_events(service, org, conn)["eventKey"]
    assert api.sync(org, conn)["status"] == "completed"
    container.upload_blob("cam/z-changed-before-the-run.png", mediagen.images.png(40, 30, seed=8))

    service.proxy.slow_container, service.proxy.slow_reads, service.proxy.slow_seconds = (
        cname,
        True,
        4.0,
    )
    try:
        run = api.start_sync(org, conn).json()["runId"]
        deadline = time.monotonic() + 30
        while api.progress(org, conn, run)["status"] != "inspecting":  # listed; reading slowly
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # Changes after the run's listing: its own writes cannot see them.
        container.upload_blob("cam/during.png", mediagen.images.png(48, 32, seed=3))
        container.upload_blob(names[0], mediagen.images.png(50, 30, seed=4), overwrite=True)
        container.delete_blob(names[1])
        changes = [
            created(container, "cam/during.png"),
            created(container, names[0]),
            deleted(names[1]),
        ]
        r = post_events(
            raw, org, conn, key, [eventgrid_event(c, account, cname) for c in changes], EG
        )
        assert r.status_code == 200, r.text
        assert r.json()["counts"]["queued"] == 3  # the run holds the connection: queued
        assert api.progress(org, conn, run)["status"] not in ("completed", "failed", "cancelled")
        service.proxy.slow_seconds = 0
        view = api.wait(org, conn, run)
    finally:
        service.proxy.slow_container, service.proxy.slow_reads, service.proxy.slow_seconds = (
            "",
            False,
            0.0,
        )
    assert view["counts"]["added"] == 1  # only the blob listed by the run

    reference = api.connect(org, account=account, container=cname, prefix="cam/", name="ref2")
    api.sync(org, reference)
    # An updated asset keeps the charge it paid when it was added (dataRows 0 on the update,
    # as a full run writes it): compare everything else with a fresh full sync.
    content = FIELDS[:-1]
    expected = rows(service, org, reference, content)
    deadline = time.monotonic() + 30
    while rows(service, org, conn, content) != expected:  # the run's last step applies the queue
        assert time.monotonic() < deadline, rows(service, org, conn, content)
        time.sleep(0.3)
    statuses = {a["name"]: a["status"] for a in api.assets(org, conn)}
    assert statuses[names[1]] == "removed"
    assert asset_counts(service, org, conn) == counts_of_rows(service, org, conn)
    again = api.sync(org, conn)["counts"]
    assert (again["added"], again["updated"], again["removed"]) == (0, 0, 0)
