"""Staged records between a run's steps: written compactly, read back as typed records, and
what an earlier release staged (rows as JSON objects) reads the same after an upgrade, so a
run in flight during a deployment and the manifest it left are not lost."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from devhost.azurite import EmulatorAccount
from shared.store.records import AssetStatus, SnapshotRow, StagedEntry
from shared.store.staging import NameLog, Staging


def _staging(platform: EmulatorAccount, name: str) -> tuple[Staging, ContainerClient]:
    container = ContainerClient.from_connection_string(platform.connection_string, name)
    container.create_container()
    return Staging(container), container


def _put_raw(container: ContainerClient, blob: str, value: Any) -> None:
    container.upload_blob(blob, gzip.compress(json.dumps(value).encode()), overwrite=True)


def test_pages_and_snapshot_rows_round_trip_as_typed_records(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    staging, container = _staging(platform_account, f"staged-{unique_name}")
    entries = [
        StagedEntry("a/b c.jpg", "0x8D1", 120, "image/jpeg", "2026-01-02T03:04:05+00:00", None),
        StagedEntry("ü/clip.mp4", "0x8D2", 9, None, None, AssetStatus.SKIPPED),
    ]
    ref = staging.put_page("run1", 0, entries)
    assert staging.get_entries(ref, 0, 2) == entries
    assert staging.get_entries(ref, 1, 2)[0].previous is AssetStatus.SKIPPED

    rows = [
        SnapshotRow("z.jpg", "0x1", 5, AssetStatus.SYNCED, None),
        SnapshotRow("a.png", "0x2", 7, AssetStatus.SKIPPED, "exif_orientation"),
        SnapshotRow("m.txt", "0x3", 1, AssetStatus.IGNORED, None),
    ]
    firsts = staging.put_chunks("manifests/c1/m1", list(rows), chunk=2)
    assert firsts == ["a.png", "z.jpg"]
    read = staging.chunk("manifests/c1/m1", 0) + staging.chunk("manifests/c1/m1", 1)
    assert read == sorted(rows)
    assert all(isinstance(r.status, AssetStatus) for r in read)
    # Written compactly: arrays, not objects repeating field names per row.
    (part,) = container.list_blob_names(name_starts_with="run1/page-")
    raw = json.loads(gzip.decompress(container.download_blob(part).readall()))
    assert raw[0] == ["a/b c.jpg", "0x8D1", 120, "image/jpeg", "2026-01-02T03:04:05+00:00", None]


def test_what_an_earlier_release_staged_reads_the_same(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    staging, container = _staging(platform_account, f"legacy-{unique_name}")
    _put_raw(
        container,
        "run2/page-000000.json.gz",
        [{"n": "x.jpg", "e": "0x9", "s": 3, "t": "image/jpeg", "m": None, "p": "synced"}],
    )
    _put_raw(
        container,
        "manifests/c2/m2/chunk-000000.json.gz",
        [{"n": "x.jpg", "e": "0x9", "s": 3, "st": "removed", "r": None}],
    )
    assert staging.get_entries("run2/page-000000.json.gz", 0, 1) == [
        StagedEntry("x.jpg", "0x9", 3, "image/jpeg", None, AssetStatus.SYNCED)
    ]
    assert staging.chunk("manifests/c2/m2", 0) == [
        SnapshotRow("x.jpg", "0x9", 3, AssetStatus.REMOVED, None)
    ]
    # A listing step's names as one JSON array, next to a step of this release.
    _put_raw(container, "run2/listed-000000.json.gz", ["old/a.jpg", "old/b.jpg"])
    staging.put_listed("run2", 1, ["new/c.jpg"])
    assert list(staging.iter_listed("run2")) == ["old/a.jpg", "old/b.jpg", "new/c.jpg"]


def test_a_steps_names_are_logged_a_page_at_a_time_and_read_back_in_order(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    """Names go into the log a page at a time (one compressed line each) and come back in
    the order they were listed, whatever characters they hold."""
    staging, container = _staging(platform_account, f"listed-{unique_name}")
    odd = ['a "quoted" name.jpg', "line\nbreak.png", "back\\slash/ü €.jpg", "tab\t.mp4", "[x].png"]
    pages = [odd, [f"f/{i:05d}.jpg" for i in range(3000)], ["z.jpg"]]
    log = NameLog()
    for page in pages:
        log.add_page(page)
    assert log.count == len(odd) + 3000 + 1
    staging.put_listed("run3", 0, log, known=7)
    staging.put_listed("run3", 1, ["zz/last.jpg"])
    names = list(staging.iter_listed("run3"))
    assert names == [*odd, *pages[1], "z.jpg", "zz/last.jpg"]
    assert staging.known_listed("run3") is None  # the second step did not count its known rows
    (first, _) = container.list_blob_names(name_starts_with="run3/listed-")
    lines = gzip.decompress(container.download_blob(first).readall()).splitlines()
    assert [len(json.loads(line)) for line in lines] == [len(p) for p in pages]


def test_a_runs_writes_fold_into_the_snapshot_in_name_order() -> None:
    from shared.sync.manifest import merged_rows

    s = AssetStatus
    snapshot = [
        SnapshotRow("b.jpg", "1", 1, s.SYNCED, None),
        SnapshotRow("d.jpg", "1", 1, s.SKIPPED, "exif_orientation"),
        SnapshotRow("f.txt", "1", 1, s.IGNORED, None),
        SnapshotRow("h.jpg", "1", 1, s.REMOVED, None),
    ]
    written = [
        SnapshotRow("z.jpg", "9", 9, s.SYNCED, None),  # after every snapshot row
        SnapshotRow("d.jpg", "2", 2, s.SYNCED, None),  # replaced: fixed since
        SnapshotRow("a.jpg", "9", 9, s.SKIPPED, "corrupt"),  # before every snapshot row
        SnapshotRow("e.mp4", "9", 9, s.SYNCED, None),  # between two
        SnapshotRow("h.jpg", "3", 3, s.SYNCED, None),  # back after it was removed
    ]
    rows = list(merged_rows(iter(snapshot), sorted(written), gone={"f.txt"}))
    assert [r.name for r in rows] == ["a.jpg", "b.jpg", "d.jpg", "e.mp4", "f.txt", "h.jpg", "z.jpg"]
    by_name = {r.name: r for r in rows}
    assert by_name["d.jpg"] == written[1]
    assert by_name["h.jpg"] == written[4]
    assert by_name["f.txt"] == snapshot[2]._replace(status=s.REMOVED)
    assert by_name["b.jpg"] == snapshot[0]
    # With nothing written the snapshot passes through as it is.
    assert list(merged_rows(iter(snapshot), [], gone=())) == snapshot


def test_a_batch_reads_only_the_parts_of_its_slice(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    staging, container = _staging(platform_account, f"parts-{unique_name}")
    entries = [StagedEntry(f"f/{i:04d}.jpg", f"0x{i}", i, None, None, None) for i in range(23)]
    ref = staging.put_page("run3", 4, entries, part=5)
    assert len(list(container.list_blob_names(name_starts_with="run3/"))) == 5
    for start, end in [(0, 5), (5, 10), (3, 12), (20, 23), (0, 23), (7, 7)]:
        assert staging.get_entries(ref, start, end) == entries[start:end]
    # Another slicing than the parts' (a batch size other than the part size) reads the same.
    assert [
        e for s in range(0, 23, 4) for e in staging.get_entries(ref, s, min(s + 4, 23))
    ] == entries
    container.delete_blob("run3/page-000004.p5-00001.json.gz")
    with pytest.raises(ResourceNotFoundError):
        staging.get_entries(ref, 4, 6)  # a part that is gone is not silently skipped


def test_the_rows_a_run_wrote_come_back_in_name_order_one_per_name(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    staging, container = _staging(platform_account, f"results-{unique_name}")
    s = AssetStatus

    def row(name: str, etag: str = "1") -> SnapshotRow:
        return SnapshotRow(name, etag, 1, s.SYNCED, None)

    # Batches of different folders interleave in name order; a batch's own rows come unsorted.
    staging.put_results("run4", "000000-000000", [row("b/2"), row("b/1"), row("d/1")])
    staging.put_results("run4", "000000-000003", [row("a/9"), row("c/1")])
    staging.put_results("run4", "000001-000000", [row("b/3"), row("c/1", etag="later")])
    staging.put_results("run4", "000001-000002", [])
    # Staged by an earlier release: no first name, not sorted.
    _put_raw(
        container,
        "run4/results-000002-000000.json.gz",
        [["e/2", "1", 1, "synced", None], ["a/1", "1", 1, "skipped", "corrupt"]],
    )
    rows = list(staging.iter_results("run4"))
    assert [r.name for r in rows] == ["a/1", "a/9", "b/1", "b/2", "b/3", "c/1", "d/1", "e/2"]
    assert next(r for r in rows if r.name == "c/1").etag == "later"  # the later batch wins
    assert next(r for r in rows if r.name == "a/1").reason == "corrupt"


def test_deleting_a_run_whose_blobs_are_partly_gone_already_succeeds(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    """A cleanup sent again (its first try timed out after the storage had deleted some of
    the blobs) or two cleanups at once: blobs already gone count as deleted."""
    staging, container = _staging(platform_account, unique_name)
    for i in range(300):  # more than one batch
        container.upload_blob(f"run-x/page-{i:06d}.json.gz", b"x")
    names = sorted(container.list_blob_names(name_starts_with="run-x/"))
    for name in names[::3]:
        container.delete_blob(name)
    staging.delete_names([*names, "run-x/never-there.json.gz"])
    assert list(container.list_blob_names(name_starts_with="run-x/")) == []
    assert staging.delete_run("run-x") == 0


def test_a_chunk_kept_as_stored_decodes_to_its_rows(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    staging, _ = _staging(platform_account, unique_name)
    rows = [SnapshotRow(f"f/{i:03d}.jpg", f"0x{i}", i, AssetStatus.SYNCED, None) for i in range(50)]
    staging.put_chunks("manifests/c3/m3", list(reversed(rows)), chunk=20)
    data = staging.chunk_data("manifests/c3/m3", 1)
    assert len(data) < sum(len(r.name) + len(r.etag) for r in rows[20:40])  # compressed
    assert staging.decode_chunk(data) == rows[20:40] == staging.chunk("manifests/c3/m3", 1)
