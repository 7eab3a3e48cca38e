"""Change detection from the connection's manifest (``shared.sync.manifest``): a re-sync that
reads the manifest the last complete run left finds exactly what a scan of the ``Assets`` table
finds, and the manifest is not trusted once anything may have changed the rows outside a run."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.data.tables.aio import TableClient as AsyncTableClient
from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import EmulatorAccount
from shared.asset_keys import partition_key, row_key
from shared.store.assets import AssetStatus, scan_connection
from shared.store.connections import ConnectionRepository
from shared.store.records import SnapshotRow
from shared.store.staging import SnapshotRef, Staging
from shared.sync.steps import finish_removed
from tests.sync.harness import Api, CountingProxy
from tests.sync.test_sync_e2e import new_org, rows_by_name, upload


def _files(n: int, seed: int = 0) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        if i % 9 == 4:  # not media: an ignored row
            out.append((f"docs/note_{i:03d}.txt", b"hello %d" % i))
        else:
            out.append((f"img/{i:03d}.jpg", mediagen.jpeg(48 + i % 5, 32, seed=seed + i)))
    return out


def _tables(platform: EmulatorAccount) -> TableServiceClient:
    return TableServiceClient.from_connection_string(platform.connection_string)


def _connections(platform: EmulatorAccount) -> ConnectionRepository:
    return ConnectionRepository(_tables(platform).get_table_client("Connections"))


def _staging_container(platform: EmulatorAccount) -> ContainerClient:
    return ContainerClient.from_connection_string(platform.connection_string, "sync-staging")


def _pointer_exists(platform: EmulatorAccount, conn: str) -> bool:
    """A pointer naming a manifest (a run that read it leaves one naming none)."""
    pointer = Staging(_staging_container(platform)).manifest(conn)
    return pointer is not None and "base" in pointer


def _manifest_rows(platform: EmulatorAccount, conn: str) -> list[SnapshotRow]:
    staging = Staging(_staging_container(platform))
    pointer = staging.manifest(conn)
    assert pointer is not None
    return [r for k in range(len(pointer["firsts"])) for r in staging.chunk(pointer["base"], k)]


def _table_rows(platform: EmulatorAccount, conn: str) -> list[SnapshotRow]:
    assets = _tables(platform).get_table_client("Assets")
    return sorted(scan_connection(assets, conn))


def _asset_reads(proxy: CountingProxy) -> int:
    """Queries and reads of the ``Assets`` table the app made."""
    return sum(
        1
        for r in proxy.snapshot()
        if r.service == "table" and r.method == "GET" and "/Assets" in r.path
    )


def _listed_reads(proxy: CountingProxy) -> int:
    """Reads of the names a run's listing steps staged."""
    return sum(1 for r in proxy.snapshot() if r.method == "GET" and "/listed-" in r.path)


def test_as_many_blobs_vanishing_as_appearing_are_still_marked_removed(
    api: Api, proxy: CountingProxy, container: ContainerClient, unique_name: str
) -> None:
    files = _files(12)
    upload(container, files)
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    assert api.sync(org, conn)["status"] == "completed"
    gone = [n for n, _ in files[:2]]
    for name in gone:
        container.delete_blob(name)
    upload(container, [(f"swap/new_{i}.png", mediagen.png(20 + i, 20)) for i in range(2)])

    proxy.clear()
    view = api.sync(org, conn)
    assert view["status"] == "completed"
    assert (view["counts"]["added"], view["counts"]["removed"]) == (2, 2)
    rows = rows_by_name(api, org, conn)
    assert all(rows[n][0] == "removed" for n in gone)
    assert _listed_reads(proxy) > 0  # the listed names decide which rows vanished


def test_manifest_resync_finds_what_a_table_scan_finds(
    api: Api,
    proxy: CountingProxy,
    platform_account: EmulatorAccount,
    container: ContainerClient,
    unique_name: str,
) -> None:
    files = _files(60)
    upload(container, files)
    org = new_org(api, unique_name)
    by_manifest = api.connect(org, account="contosomedia", container=container.container_name)
    by_scan = api.connect(
        org, account="contosomedia", container=container.container_name, name="scan"
    )
    for conn in (by_manifest, by_scan):
        assert api.sync(org, conn)["status"] == "completed"
        assert _pointer_exists(platform_account, conn)

    # Nothing changed: the re-sync decides from the manifest and never reads the table.
    proxy.clear()
    again = api.sync(org, by_manifest)
    assert again["status"] == "completed"
    assert again["counts"]["unchanged"] == len(files)
    assert _asset_reads(proxy) == 0
    assert proxy.table_writes("Assets") == 0
    # Every stored row was listed again, so the finish knows nothing vanished without reading
    # back the names the run listed.
    assert _listed_reads(proxy) == 0

    # Blobs change, vanish and appear; one connection's manifest is made untrusted, so its
    # re-sync scans the table: both must come to the same result.
    names = [n for n, _ in files if n.endswith(".jpg")]
    changed, deleted = names[:5], [*names[5:9], "docs/note_004.txt"]
    for i, name in enumerate(changed):
        container.upload_blob(name, mediagen.jpeg(64, 40, seed=500 + i), overwrite=True)
    for name in deleted:
        container.delete_blob(name)
    added = [(f"img/new_{i}.png", mediagen.png(30 + i, 20)) for i in range(3)]
    upload(container, added)
    _connections(platform_account).bump_assets_generation(org, by_scan)

    proxy.clear()
    manifest_view = api.sync(org, by_manifest)
    # Its writes are folded into the manifest it read: no scan for the manifest or the counts.
    assert _asset_reads(proxy) == 0
    scan_view = api.sync(org, by_scan)

    for view in (manifest_view, scan_view):
        assert view["status"] == "completed", view["error"]
        c = view["counts"]
        assert (c["added"], c["updated"], c["removed"]) == (3, 5, len(deleted))
        assert c["unchanged"] == len(files) - len(changed) - len(deleted)
    assert manifest_view["counts"] == scan_view["counts"]
    manifest_rows, scan_rows = rows_by_name(api, org, by_manifest), rows_by_name(api, org, by_scan)
    assert manifest_rows == scan_rows
    assert all(manifest_rows[n][0] == "removed" for n in deleted)
    for conn in (by_manifest, by_scan):  # the manifest left is the table, row for row
        assert _manifest_rows(platform_account, conn) == _table_rows(platform_account, conn)
        shown = api.client.get_connection(org, conn)["assetCounts"]
        statuses = [status for status, _, _ in manifest_rows.values()]
        assert {k: shown[k] for k in ("synced", "skipped", "ignored", "removed")} == {
            k: statuses.count(k) for k in ("synced", "skipped", "ignored", "removed")
        }

    # And the manifest each run left describes the rows: one more re-sync changes nothing.
    for conn in (by_manifest, by_scan):
        view = api.sync(org, conn)
        assert view["counts"]["unchanged"] == len(files) - len(deleted) + len(added)
        assert view["counts"]["added"] == view["counts"]["removed"] == 0
        assert rows_by_name(api, org, conn) == manifest_rows

    # Deleting a connection removes its manifest with its rows (customer blob names).
    assert _pointer_exists(platform_account, by_manifest)
    assert (
        api.http.request("DELETE", f"/api/orgs/{org}/connections/{by_manifest}").status_code == 204
    )
    staging = _staging_container(platform_account)
    assert list(staging.list_blob_names(name_starts_with=f"manifests/{by_manifest}/")) == []


def test_rows_changed_outside_a_run_are_seen_once_the_generation_is_bumped(
    api: Api,
    proxy: CountingProxy,
    platform_account: EmulatorAccount,
    container: ContainerClient,
    unique_name: str,
) -> None:
    files = _files(20, seed=40)
    upload(container, files)
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    assert api.sync(org, conn)["status"] == "completed"

    # An out-of-run writer (say a blob event) drops one row, then bumps the generation as the
    # rule says: the next run must not trust the manifest and re-adds the blob.
    gone = "img/001.jpg"
    assets = _tables(platform_account).get_table_client("Assets")
    assets.delete_entity(partition_key(conn, gone), row_key(gone))
    _connections(platform_account).bump_assets_generation(org, conn)

    proxy.clear()
    view = api.sync(org, conn)

    assert view["status"] == "completed", view["error"]
    assert view["counts"]["added"] == 1
    assert view["counts"]["unchanged"] == len(files) - 1
    assert _asset_reads(proxy) > 0  # the snapshot came from the table
    assert rows_by_name(api, org, conn)[gone][0] == "synced"


def test_a_run_that_fails_leaves_no_manifest_behind(
    api: Api,
    platform_account: EmulatorAccount,
    container: ContainerClient,
    unique_name: str,
) -> None:
    files = _files(12, seed=80)
    upload(container, files)
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    assert api.sync(org, conn)["status"] == "completed"
    assert _pointer_exists(platform_account, conn)

    container.delete_container()
    failed = api.sync(org, conn)
    assert failed["status"] == "failed"
    assert not _pointer_exists(platform_account, conn)

    container.create_container()
    upload(container, files)
    view = api.sync(org, conn)
    assert view["status"] == "completed", view["error"]
    assert view["counts"]["synced"] + view["counts"]["ignored"] == len(files)
    assert _pointer_exists(platform_account, conn)


def _looks_at(proxy: CountingProxy, prefix: str) -> int:
    """List requests with the ``/`` delimiter (a look at one folder level) for ``prefix``."""
    queries = [parse_qs(r.query) for r in proxy.snapshot() if r.service == "blob"]
    return sum(
        1
        for q in queries
        if q.get("comp") == ["list"] and "delimiter" in q and q.get("prefix", [""]) == [prefix]
    )


def test_a_resync_starts_with_the_folders_the_last_run_walked(
    api: Api,
    proxy: CountingProxy,
    platform_account: EmulatorAccount,
    container: ContainerClient,
    unique_name: str,
) -> None:
    """The last run's walk (which folders were levels, which were listed flat) is kept with the
    manifest; the next run starts from it: a folder too big for one look is listed flat at
    once, without looking at it again, and what changed in the tree is still found."""
    big = [(f"site/cam1/{i:03d}.txt", b"x") for i in range(130)]  # more than a page (100)
    small = [(f"site/cam2/{i}.txt", b"x") for i in range(5)]
    other = [(f"other/{i}.txt", b"x") for i in range(4)]
    upload(container, [("top.png", mediagen.png(20, 20)), *big, *small, *other])
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    proxy.clear()
    assert api.sync(org, conn)["status"] == "completed"
    assert _looks_at(proxy, "site/cam1/") == 1  # looked at, too big: listed flat
    staging = Staging(_staging_container(platform_account))
    pointer = staging.manifest(conn)
    assert pointer is not None
    shape = {p["prefix"]: p["level"] for p in pointer["shape"]}
    assert shape == {
        "": True,
        "site/": True,
        "site/cam1/": False,
        "site/cam2/": True,
        "other/": True,
    }

    upload(
        container,
        [("fresh/new.txt", b"n"), ("site/cam3/n.txt", b"n"), ("top2.png", mediagen.png(21, 20))],
    )
    for name, _ in other:
        container.delete_blob(name)
    proxy.clear()
    view = api.sync(org, conn)
    assert view["status"] == "completed"
    assert _looks_at(proxy, "site/cam1/") == 0  # straight to its flat listing
    assert _looks_at(proxy, "") == 1 and _looks_at(proxy, "site/") == 1  # levels still looked at
    # one image added, two new text files (ignored rows), four gone
    assert (view["counts"]["added"], view["counts"]["removed"]) == (1, 4)
    assert view["counts"]["ignored"] == 2
    assert view["counts"]["unchanged"] == 1 + len(big) + len(small)
    rows = rows_by_name(api, org, conn)
    assert {"fresh/new.txt", "site/cam3/n.txt", "top2.png"} <= set(rows)
    assert all(rows[n][0] == "removed" for n, _ in other)
    pointer = staging.manifest(conn)
    assert pointer is not None
    shape = {p["prefix"]: p["level"] for p in pointer["shape"]}
    assert "other/" not in shape and shape["fresh/"] is True and shape["site/cam3/"] is True


def _staging_listings(proxy: CountingProxy, prefix: str) -> int:
    """List requests on the platform's staging container for names starting with ``prefix``."""
    queries = [parse_qs(r.query) for r in proxy.snapshot() if "/sync-staging" in r.path]
    return sum(
        1
        for q in queries
        if q.get("comp") == ["list"] and q.get("prefix", [""])[0].startswith(prefix)
    )


def test_a_resync_that_changes_nothing_finishes_without_listing_its_staged_data(
    api: Api,
    proxy: CountingProxy,
    platform_account: EmulatorAccount,
    container: ContainerClient,
    unique_name: str,
) -> None:
    """The finish knows nothing vanished from the counts the listing steps returned, and knows
    there is no older manifest to delete from the manifest it read: it lists neither (each
    listing costs a scan of the metadata store). Older manifests are still deleted once a
    run replaced them."""
    files = _files(30)
    upload(container, files)
    org = new_org(api, unique_name)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    assert api.sync(org, conn)["status"] == "completed"
    container.upload_blob(files[0][0], mediagen.jpeg(50, 30, seed=999), overwrite=True)
    assert api.sync(org, conn)["counts"]["updated"] == 1  # a new manifest replaces the first
    for _ in range(2):
        proxy.clear()
        view = api.sync(org, conn)
        assert view["counts"]["unchanged"] == len(files)
    assert _staging_listings(proxy, "manifests/") == 0
    assert _staging_listings(proxy, f"{view['runId']}/listed-") == 0
    # The run's snapshot reference: its listing step looks for one twice before taking it (the
    # walk's seed and the snapshot itself come from it on a retried step), then compares with
    # the one it took; the finish reads it once, for both the deletions and the manifest.
    ref_reads = [
        r
        for r in proxy.snapshot()
        if r.method == "GET" and r.path.endswith(f"/{view['runId']}/snapshot.json.gz")
    ]
    assert len(ref_reads) == 3, ref_reads
    staging = _staging_container(platform_account)
    pointer = Staging(staging).manifest(conn)
    assert pointer is not None and pointer["kept"] == [pointer["base"]]
    held = {n.split("/")[2] for n in staging.list_blob_names(name_starts_with=f"manifests/{conn}/")}
    assert held == {pointer["base"].split("/")[-1], "current.json.gz"}, held

    # A blob vanishes: the finish then reads what was listed, and marks the row removed.
    container.delete_blob(files[1][0])
    proxy.clear()
    view = api.sync(org, conn)
    assert view["counts"]["removed"] == 1
    assert _listed_reads(proxy) > 0


@pytest.mark.parametrize("chunks_per_pass", [1, 2, 3, 50])
def test_the_finish_compares_the_snapshot_a_few_chunks_at_a_time(
    platform_account: EmulatorAccount, unique_name: str, chunks_per_pass: int
) -> None:
    """Vanished names are found whichever chunks a pass holds: listed names that sort before,
    between and after the snapshot's chunks, listing steps that each saw names of every
    chunk, rows already removed."""
    container = _staging_container(platform_account)
    with contextlib.suppress(ResourceExistsError):  # made by the app's first run otherwise
        container.create_container()
    staging = Staging(container)
    run = f"{unique_name}-r{chunks_per_pass}"
    stored = [f"f/{i:03d}.jpg" for i in range(0, 40, 2)]  # 20 rows
    removed_before = {"f/004.jpg"}
    rows = [
        SnapshotRow(
            n, "e", 1, AssetStatus.REMOVED if n in removed_before else AssetStatus.SYNCED, None
        )
        for n in stored
    ]
    base = staging.manifest_base(unique_name, f"{run}-s")
    firsts = staging.put_chunks(base, rows, chunk=3)  # 7 chunks
    staging.put_snapshot_ref(
        run,
        SnapshotRef(base=base, firsts=firsts, rows=len(rows), source="scan", generation=0, live=19),
    )
    vanished = {"f/000.jpg", "f/010.jpg", "f/012.jpg", "f/038.jpg"}
    listed = [n for n in stored if n not in vanished and n not in removed_before]
    listed += ["a/new.jpg", "f/011.jpg", "z/new.jpg"]  # not stored: new blobs
    staging.put_listed(run, 0, listed[::2])
    staging.put_listed(run, 1, listed[1::2])
    table = f"Gone{unique_name}{chunks_per_pass}"
    TableServiceClient.from_connection_string(platform_account.connection_string).create_table(
        table
    )

    async def finish() -> list[str]:
        async with AsyncTableClient.from_connection_string(
            platform_account.connection_string, table
        ) as assets:
            return await finish_removed(
                run_id=run,
                connection_id=unique_name,
                assets=assets,
                staging=staging,
                chunks_per_pass=chunks_per_pass,
            )

    assert sorted(asyncio.run(finish())) == sorted(vanished)
