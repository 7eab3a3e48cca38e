"""The sync engine end to end: the real app under the dev host, customer blobs in Azurite.

Ground truth for every blob is the inspection engine's verdict computed here from the bytes
(the inspection suite checks those verdicts against full decodes with Pillow/PyAV).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import EmulatorAccount
from shared.inspection import BlobRef, MemoryReader, Outcome, inspect_blob
from shared.store.assets import scan_connection
from tests.sync.harness import Api, CountingProxy

ROWS_PER_ASSET = 5  # DATA_ROWS_PER_IMAGE and DATA_ROWS_PER_VIDEO defaults


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bytes]]:
    return mediagen.mixed_set(
        300, seed=7, image_size=(320, 240), video_size=(96, 64), video_seconds=0.5
    )


def expected_outcomes(files: list[tuple[str, bytes]]) -> dict[str, tuple[str, str | None, str]]:
    """name -> (status, reason, kind) as the sync must record it."""

    async def verdicts() -> dict[str, tuple[str, str | None, str]]:
        out = {}
        for name, data in files:
            v = await inspect_blob(BlobRef(name, len(data)), MemoryReader(data))
            status = {
                Outcome.ACCEPTED: "synced",
                Outcome.SKIPPED: "skipped",
                Outcome.IGNORED: "ignored",
            }[v.outcome]
            out[name] = (status, v.reason.value if v.reason else None, v.kind.value)
        return out

    return asyncio.run(verdicts())


def upload(container: ContainerClient, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        container.upload_blob(name, data, overwrite=True)


def rows_by_name(api: Api, org: str, conn: str) -> dict[str, tuple[str, str | None, str]]:
    return {a["name"]: (a["status"], a["reason"], a["kind"]) for a in api.assets(org, conn)}


def new_org(api: Api, unique_name: str, quota: int = 1_000_000) -> str:
    org = f"org-{unique_name}"
    api.put_org(org, quota=quota)
    return org


def connected(
    api: Api,
    container: ContainerClient,
    files: list[tuple[str, bytes]],
    unique_name: str,
    *,
    quota: int = 1_000_000,
    prefix: str = "",
) -> tuple[str, str]:
    """Upload ``files``, create a paid organisation and a connection to the container."""
    upload(container, files)
    org = new_org(api, unique_name, quota=quota)
    conn = api.connect(
        org, account="contosomedia", container=container.container_name, prefix=prefix
    )
    return org, conn


def usage_rows(platform: EmulatorAccount, org: str) -> int:
    tables = TableServiceClient.from_connection_string(platform.connection_string)
    used = 0
    for e in tables.get_table_client("Usage").query_entities(
        "PartitionKey eq @o", parameters={"o": org}
    ):
        if "rowsUsed" in e:
            value = e["rowsUsed"]
            used += int(getattr(value, "value", value))
    return used


def test_first_sync_counts_every_kind_and_reason(
    api: Api,
    container: ContainerClient,
    corpus: list[tuple[str, bytes]],
    unique_name: str,
    platform_account: EmulatorAccount,
) -> None:
    org, conn = connected(api, container, corpus, unique_name)
    expected = expected_outcomes(corpus)

    view = api.sync(org, conn)

    statuses = Counter(s for s, _, _ in expected.values())
    reasons = Counter(r for s, r, _ in expected.values() if s == "skipped")
    assert view["status"] == "completed"
    assert view["counts"]["synced"] == statuses["synced"] == view["counts"]["added"]
    assert view["counts"]["skipped"] == statuses["skipped"]
    assert view["counts"]["skippedByReason"] == dict(reasons)
    assert view["counts"]["ignored"] == statuses["ignored"]
    assert view["counts"]["failed"] == view["counts"]["removed"] == view["counts"]["unchanged"] == 0
    assert view["processed"] == view["total"] == len(corpus)
    assert view["percent"] == 100.0
    assert view["assetCount"] == statuses["synced"]
    assert len(reasons) >= 4, "the corpus must exercise several reasons"
    # Every row matches its verdict: status, reason and kind.
    assert rows_by_name(api, org, conn) == expected
    # The skip report lists exactly the skipped blobs, each with a title and a fix.
    report = api.assets(org, conn, status="skipped")
    assert {a["name"] for a in report} == {n for n, (s, _, _) in expected.items() if s == "skipped"}
    assert all(a["reasonTitle"] and a["fix"] and a["detail"] for a in report)
    rotated = api.assets(org, conn, status="skipped", reason="exif_orientation")
    assert rotated and all(a["detail"].startswith("orientation=") for a in rotated)
    # Synced assets were charged once each.
    assert usage_rows(platform_account, org) == ROWS_PER_ASSET * statuses["synced"]


def test_resync_without_changes_reads_and_writes_nothing(
    api: Api,
    proxy: CountingProxy,
    container: ContainerClient,
    corpus: list[tuple[str, bytes]],
    unique_name: str,
) -> None:
    files = corpus[:150]
    upload(container, files)
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    first = api.sync(org, conn)
    assert first["status"] == "completed"
    before = rows_by_name(api, org, conn)

    proxy.clear()
    again = api.sync(org, conn)

    assert again["status"] == "completed", again["error"]
    assert again["counts"]["unchanged"] == len(files)
    assert again["counts"]["synced"] == again["counts"]["skipped"] == 0
    assert again["bytesRead"] == 0
    assert proxy.blob_reads("contosomedia") == 0
    assert proxy.table_writes("Assets") == 0
    assert rows_by_name(api, org, conn) == before


def test_resync_adds_updates_and_removes(
    api: Api, container: ContainerClient, corpus: list[tuple[str, bytes]], unique_name: str
) -> None:
    files = [(n, d) for n, d in corpus[:120]]
    upload(container, files)
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    assert api.sync(org, conn)["status"] == "completed"
    expected = expected_outcomes(files)

    synced_names = [n for n, (s, _, _) in expected.items() if s == "synced"]
    changed = synced_names[:7]  # new etag, still valid
    deleted = synced_names[7:12] + [n for n, (s, _, _) in expected.items() if s == "skipped"][:2]
    added = [(f"new/extra_{i}.png", mediagen.png(40 + i, 30)) for i in range(6)]
    for name in changed:
        container.upload_blob(name, mediagen.jpeg(50, 40, seed=hash(name) % 1000), overwrite=True)
    for name in deleted:
        container.delete_blob(name)
    upload(container, added)

    view = api.sync(org, conn)

    assert view["status"] == "completed"
    c = view["counts"]
    assert (c["added"], c["updated"], c["removed"]) == (len(added), len(changed), len(deleted))
    assert c["unchanged"] == len(files) - len(changed) - len(deleted)
    rows = rows_by_name(api, org, conn)
    assert all(rows[n][0] == "removed" for n in deleted)  # kept, so labels survive
    assert all(rows[n][0] == "synced" for n, _ in added)
    removed_report = api.assets(org, conn, status="removed")
    assert {a["name"] for a in removed_report} == set(deleted)
    # A blob that comes back is synced again.
    container.upload_blob(deleted[0], mediagen.jpeg(30, 20), overwrite=True)
    back = api.sync(org, conn)
    assert back["counts"]["added"] == 1
    assert rows_by_name(api, org, conn)[deleted[0]][0] == "synced"


def test_prefix_scopes_the_sync(api: Api, container: ContainerClient, unique_name: str) -> None:
    inside = [(f"train/cats/{i}.jpg", mediagen.jpeg(40, 30, seed=i)) for i in range(8)]
    outside = [(f"val/{i}.jpg", mediagen.jpeg(40, 30, seed=i)) for i in range(5)]
    near = [("training/0.jpg", mediagen.jpeg(40, 30))]  # shares the string prefix "train"
    upload(container, inside + outside + near)
    org = new_org(api, unique_name)
    conn = api.connect(
        org, account="contosomedia", container=container.container_name, prefix="train/"
    )

    view = api.sync(org, conn)

    assert view["status"] == "completed"
    assert view["prefix"] == "train/"
    assert view["counts"]["synced"] == len(inside)
    assert set(rows_by_name(api, org, conn)) == {n for n, _ in inside}


def test_quota_runs_out_mid_sync_with_an_exact_split(
    api: Api, container: ContainerClient, unique_name: str, platform_account: EmulatorAccount
) -> None:
    files = [(f"img/{i:03d}.jpg", mediagen.jpeg(40, 30, seed=i)) for i in range(90)]
    upload(container, files)
    fits = 37
    org = new_org(api, unique_name, quota=fits * ROWS_PER_ASSET + 3)  # 3 rows of slack fit nothing
    conn = api.connect(org, account="contosomedia", container=container.container_name)

    view = api.sync(org, conn)

    assert view["status"] == "completed"
    assert view["counts"]["synced"] == fits
    assert view["counts"]["skippedByReason"] == {"quota_exceeded": len(files) - fits}
    assert usage_rows(platform_account, org) == fits * ROWS_PER_ASSET
    # With room again, a later sync picks up exactly the skipped ones.
    api.put_org(org, quota=1_000_000)
    later = api.sync(org, conn)
    assert later["counts"]["synced"] == len(files) - fits
    assert later["counts"]["unchanged"] == fits
    assert usage_rows(platform_account, org) == len(files) * ROWS_PER_ASSET


def test_concurrent_syncs_never_exceed_the_quota(
    api: Api, customer_account: EmulatorAccount, unique_name: str, platform_account: EmulatorAccount
) -> None:
    org = new_org(api, unique_name, quota=100 * ROWS_PER_ASSET)
    conns, clients = [], []
    for k in range(2):
        cc = ContainerClient.from_connection_string(
            customer_account.connection_string, f"{unique_name}-q{k}"
        )
        cc.create_container()
        clients.append(cc)
        upload(cc, [(f"{k}/{i:03d}.jpg", mediagen.jpeg(32, 24, seed=i)) for i in range(80)])
        conns.append(
            api.connect(org, account="contosomedia", container=cc.container_name, name=f"q{k}")
        )
    try:
        runs = []
        for conn in conns:
            r = api.start_sync(org, conn)
            assert r.status_code == 202, r.text
            runs.append(r.json()["runId"])
        views = [api.wait(org, c, r) for c, r in zip(conns, runs, strict=True)]
        synced = sum(v["counts"]["synced"] for v in views)
        over = sum(v["counts"]["skippedByReason"].get("quota_exceeded", 0) for v in views)
        assert synced == 100
        assert over == 60
        assert usage_rows(platform_account, org) == 100 * ROWS_PER_ASSET
    finally:
        for cc in clients:
            cc.delete_container()


def test_a_second_start_is_a_conflict_naming_the_run(
    api: Api, container: ContainerClient, corpus: list[tuple[str, bytes]], unique_name: str
) -> None:
    upload(container, corpus[:200])
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    first = api.start_sync(org, conn)
    assert first.status_code == 202
    run = first.json()["runId"]
    second = api.start_sync(org, conn)
    assert second.status_code == 409
    problem = second.json()
    assert problem["code"] == "sync_already_running"
    assert problem["runId"] == run
    assert api.wait(org, conn, run)["status"] == "completed"
    history = api.http.get(f"/api/orgs/{org}/connections/{conn}/syncs").json()["items"]
    assert [h["runId"] for h in history] == [run]


def synced_rows(api: Api, org: str, conn: str) -> int:
    return sum(1 for a in api.assets(org, conn) if a["status"] == "synced")


def wait_for_counts_to_match_rows(api: Api, org: str, conn: str, within: float = 30) -> int:
    """Wait until the connection's synced count equals its synced rows; returns that count."""
    deadline = time.monotonic() + within
    while (shown := api.client.get_connection(org, conn)["assetCounts"]["synced"]) != (
        synced := synced_rows(api, org, conn)
    ):
        assert time.monotonic() < deadline, (shown, synced)
        time.sleep(0.2)
    return synced


def wait_for_progress(api: Api, org: str, conn: str, run: str, minimum: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = api.progress(org, conn, run)
        if view["processed"] >= minimum or view["status"] in ("completed", "failed"):
            return view
        time.sleep(0.05)
    raise TimeoutError("no progress")


def test_cancel_then_resync_reaches_the_uninterrupted_state(
    api: Api,
    container: ContainerClient,
    corpus: list[tuple[str, bytes]],
    unique_name: str,
    platform_account: EmulatorAccount,
) -> None:
    org, conn = connected(api, container, corpus, unique_name)
    expected = expected_outcomes(corpus)
    run = api.start_sync(org, conn).json()["runId"]
    seen = wait_for_progress(api, org, conn, run, minimum=40)
    assert seen["status"] != "completed", "the run finished before it could be cancelled"

    cancelled = api.http.post(f"/api/orgs/{org}/connections/{conn}/syncs/{run}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert api.progress(org, conn, run)["status"] == "cancelled"

    # The Connection Manager counts what the cancelled run synced (soon after the cancel).
    assert wait_for_counts_to_match_rows(api, org, conn) > 0

    view = api.sync(org, conn)

    assert view["status"] == "completed"
    assert view["counts"]["unchanged"] > 0  # what the cancelled run synced stays valid
    assert rows_by_name(api, org, conn) == expected
    synced = sum(1 for s, _, _ in expected.values() if s == "synced")
    assert usage_rows(platform_account, org) == synced * ROWS_PER_ASSET


def test_a_free_plan_cannot_sync(api: Api, container: ContainerClient, unique_name: str) -> None:
    upload(container, [("a.jpg", mediagen.jpeg(32, 24))])
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    api.put_org(org, plan="free")
    refused = api.start_sync(org, conn)
    assert refused.status_code == 403
    assert refused.json()["code"] == "plan_required"


def test_another_organisation_sees_no_runs_or_assets(
    api: Api, container: ContainerClient, unique_name: str
) -> None:
    upload(container, [("a.jpg", mediagen.jpeg(32, 24))])
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    run = api.sync(org, conn)["runId"]
    other = f"other-{unique_name}"
    api.put_org(other)
    for path in (
        f"/api/orgs/{other}/connections/{conn}/syncs",
        f"/api/orgs/{other}/connections/{conn}/syncs/{run}",
        f"/api/orgs/{other}/connections/{conn}/assets",
    ):
        r = api.http.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"] == "connection_not_found"
    assert api.start_sync(other, conn).status_code == 404


def test_a_step_that_keeps_failing_fails_the_run_with_a_code(
    api: Api, customer_account: EmulatorAccount, unique_name: str
) -> None:
    cc = ContainerClient.from_connection_string(customer_account.connection_string, unique_name)
    cc.create_container()
    org, conn = connected(api, cc, [("a.jpg", mediagen.jpeg(32, 24))], unique_name)
    cc.delete_container()  # the customer removed it after connecting

    view = api.sync(org, conn)

    assert view["status"] == "failed"
    assert view["error"]["code"] == "sync_container_not_found"
    message = view["error"]["message"]
    assert message.startswith("The sync stopped while listing the container: the container")
    assert "http" not in message.lower()  # no URLs in what users see
    assert "Activity" not in message and "Error" not in message  # no internals either
    # Not stuck: the connection is free again and the next run starts.
    cc.create_container()
    assert api.sync(org, conn)["status"] == "completed"
    cc.delete_container()


def test_asset_url_reads_that_blob_only(
    api: Api, container: ContainerClient, unique_name: str
) -> None:
    data = mediagen.jpeg(48, 32, seed=5)
    org, conn = connected(
        api, container, [("photos/a b#1.jpg", data), ("photos/other.jpg", data[:-1])], unique_name
    )
    assert api.sync(org, conn)["status"] == "completed"
    asset = next(a for a in api.assets(org, conn) if a["name"] == "photos/a b#1.jpg")

    r = api.http.get(f"/api/orgs/{org}/connections/{conn}/assets/{asset['id']}/url")

    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert "sp=r" in url  # read-only
    assert httpx.get(url).content == data
    # The signature covers this blob only: swapping the name is refused.
    other = url.replace("a%20b%231.jpg", "other.jpg")
    assert other != url
    assert httpx.get(other).status_code == 403
    missing = api.http.get(f"/api/orgs/{org}/connections/{conn}/assets/bm9wZQ/url")
    assert missing.status_code == 404
    assert missing.json()["code"] == "asset_not_found"


def test_a_blob_over_2_gib_is_synced_and_resynced_like_any_other(
    api: Api, container: ContainerClient, unique_name: str, platform_account: EmulatorAccount
) -> None:
    # A 3 GiB video (a sparse page blob: no byte is stored, its head reads as zeros) next to
    # an ordinary image. Its size does not fit a 32-bit table property.
    huge = f"{unique_name}/long-take.mp4"
    size = 3 * 2**30
    container.get_blob_client(huge).create_page_blob(size)
    image = (f"{unique_name}/cat.jpg", mediagen.jpeg(48, 32, seed=3))
    org, conn = connected(api, container, [image], unique_name, prefix=f"{unique_name}/")

    first = api.sync(org, conn)

    assert first["status"] == "completed", first["error"]
    assert first["counts"]["failed"] == 0
    rows = {a["name"]: a for a in api.assets(org, conn)}
    assert rows[huge]["size"] == size
    assert rows[huge]["status"] in ("skipped", "ignored")
    assert rows[image[0]]["status"] == "synced"
    skipped_or_ignored = api.assets(org, conn, status=rows[huge]["status"])
    assert [a["size"] for a in skipped_or_ignored] == [size]
    # The table scan that change detection falls back on reads it back too.
    tables = TableServiceClient.from_connection_string(platform_account.connection_string)
    scanned = {r.name: r.size for r in scan_connection(tables.get_table_client("Assets"), conn)}
    assert scanned[huge] == size
    # A re-sync compares the stored size with the listed one: nothing changed.
    again = api.sync(org, conn)
    assert again["status"] == "completed", again["error"]
    assert again["counts"]["unchanged"] == 2
