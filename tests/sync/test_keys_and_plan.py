"""Pure pieces of the sync engine: asset keys, slices and waves, counter arithmetic."""

from __future__ import annotations

import pytest

from shared.asset_keys import BUCKETS, decode_row_key, partition_key, partitions_of, row_key
from shared.sync.model import BatchResult, ListedPage, add_batch, add_page, empty_counters, percent
from shared.sync.plan import slices, waves

NAMES = [
    "a/b/c.jpg",
    "weird #1?.mp4",
    "back\\slash.png",
    "tab\there.jpg",
    "ü/日本/😀.jpg",
    "%41 literal.png",
    "x" * 1200,
]


@pytest.mark.parametrize("name", NAMES)
def test_row_keys_are_valid_and_reversible(name: str) -> None:
    key = row_key(name)
    assert not set(key) & set("/\\#?")
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in key)
    assert len(key.encode("utf-16-le")) // 2 <= 512
    decoded = decode_row_key(key)
    if len(name) < 500:
        assert decoded == name
    else:
        assert decoded is None
        assert key.startswith("~h~")


def test_partitions_are_stable_and_cover_the_buckets() -> None:
    assert partition_key("c1", "a.jpg") == partition_key("c1", "a.jpg")
    seen = {partition_key("c1", f"img-{i}.jpg") for i in range(2000)}
    assert seen == set(partitions_of("c1"))
    assert len(seen) == BUCKETS
    assert not any(p.startswith("c2") for p in seen)


def test_slices_and_waves() -> None:
    assert slices(None, 10, 4) == []
    got = slices("r/page-000001.json.gz", 10, 4)
    assert [(s["start"], s["end"]) for s in got] == [(0, 4), (4, 8), (8, 10)]
    assert [len(w) for w in waves(got, 2)] == [2, 1]
    assert waves([], 3) == [[]]


def test_counters_add_up() -> None:
    totals = add_page(
        empty_counters(),
        ListedPage(index=0, ref="r/p", listed=10, unchanged=4, changed=6, nextCursor=None),
    )
    batch = BatchResult(
        synced=3,
        added=2,
        updated=1,
        skippedByReason={"exif_orientation": 1, "empty": 1},
        ignored=1,
        failed=0,
        bytesRead=1000,
        requests=7,
        dataRows=10,
    )
    totals = add_batch(totals, batch)
    totals = add_batch(totals, batch)
    assert totals["listed"] == 10
    assert totals["processed"] == 4 + 2 * 6
    assert totals["skipped"] == 4
    assert totals["skippedByReason"] == {"exif_orientation": 2, "empty": 2}
    assert totals["synced"] == 6
    assert totals["bytesRead"] == 2000
    assert percent(5, 10, done=False) == 50.0
    assert percent(10, 10, done=False) == 99.9
    assert percent(0, 0, done=True) == 100.0


def test_shown_percent_covers_the_work_left_when_the_total_grows() -> None:
    from shared.sync.progress import held_percent

    assert held_percent(40.0, 40, 100, None) == 40.0
    assert held_percent(60.0, 60, 100, (40.0, 40)) == 60.0  # above the mark: as computed
    # The total doubled: 50 of 200 is 25 %, but 50 % was shown at 50 handled: hold it ...
    assert held_percent(25.0, 50, 200, (50.0, 50)) == 50.0
    # ... and move on over what is left, as a viewer polling it sees it (each shown value is
    # the next mark): never back, not 100 before the end, close to it near the end.
    mark, shown = (50.0, 50), []
    for n in range(50, 200, 10):
        value = held_percent(100 * n / 200, n, 200, mark)
        mark = max(mark, (value, n))
        shown.append(value)
    assert shown == sorted(shown) and len(set(shown)) > 10
    assert 90 < shown[-1] < 100
