"""The reader layer: counted ranged reads, a cache that never pays twice, a lazy sync file."""

from __future__ import annotations

import asyncio
import io

import pytest

from shared.inspection import CachingReader, MemoryReader, RangeReader, ReadError
from shared.inspection.reader import SyncRangeFile

DATA = bytes(range(256)) * 64  # 16 KiB


def test_memory_reader_counts_every_call_and_clips_at_the_end() -> None:
    reader = MemoryReader(DATA)
    assert isinstance(reader, RangeReader)
    assert asyncio.run(reader.read(10, 5)) == DATA[10:15]
    assert asyncio.run(reader.read(len(DATA) - 3, 100)) == DATA[-3:]
    assert (reader.requests, reader.bytes_read) == (2, 8)


def test_cached_ranges_cost_no_second_request() -> None:
    async def run() -> tuple[MemoryReader, CachingReader]:
        inner = MemoryReader(DATA)
        cache = CachingReader(inner)
        assert await cache.read(0, 4096) == DATA[:4096]
        assert await cache.read(100, 200) == DATA[100:300]
        assert await cache.read(4000, 96) == DATA[4000:4096]
        return inner, cache

    inner, cache = asyncio.run(run())
    assert inner.requests == cache.requests == 1
    assert inner.bytes_read == cache.bytes_read == 4096


def test_a_partly_cached_read_fetches_only_the_gap() -> None:
    async def run() -> MemoryReader:
        inner = MemoryReader(DATA)
        cache = CachingReader(inner)
        await cache.read(0, 1000)
        assert await cache.read(500, 1000) == DATA[500:1500]
        return inner

    inner = asyncio.run(run())
    assert inner.ranges == [(0, 1000), (1000, 500)]


def test_readahead_is_fetched_once_and_served_from_cache() -> None:
    async def run() -> MemoryReader:
        inner = MemoryReader(DATA)
        cache = CachingReader(inner)
        assert await cache.read(8000, 4, readahead=2000) == DATA[8000:8004]
        assert await cache.read(9000, 500) == DATA[9000:9500]
        assert cache.is_cached(8000, 2004)
        assert not cache.is_cached(7999, 2)
        return inner

    inner = asyncio.run(run())
    assert inner.ranges == [(8000, 2004)]


def test_spans_merge_and_a_read_across_a_hole_costs_one_request() -> None:
    async def run() -> MemoryReader:
        inner = MemoryReader(DATA)
        cache = CachingReader(inner)
        await cache.read(0, 100)
        await cache.read(200, 100)
        assert await cache.read(50, 300) == DATA[50:350]
        assert cache.cached(0, 350) == DATA[:350]
        return inner

    inner = asyncio.run(run())
    assert inner.requests == 3


def test_reads_past_the_end_are_empty_and_free() -> None:
    inner = MemoryReader(DATA)
    cache = CachingReader(inner)
    assert asyncio.run(cache.read(len(DATA), 10)) == b""
    assert inner.requests == 0


def test_a_short_read_from_storage_is_an_error() -> None:
    class Shrunk:
        size = 100

        async def read(self, offset: int, length: int) -> bytes:
            return b"x" * (length // 2)

    with pytest.raises(ReadError, match="short read"):
        asyncio.run(CachingReader(Shrunk()).read(0, 50))


def test_sync_file_reads_lazily_through_the_event_loop() -> None:
    """PyAV's side: a worker thread reads, the loop fetches, only what was asked for."""

    async def run() -> tuple[bytes, bytes, MemoryReader]:
        inner = MemoryReader(DATA)
        cache = CachingReader(inner)
        file = SyncRangeFile(cache, asyncio.get_running_loop(), block=1024)

        def in_thread() -> tuple[bytes, bytes]:
            file.seek(-10, io.SEEK_END)
            tail = file.read(100)
            file.seek(5000)
            middle = file.read(20)
            return tail, middle

        tail, middle = await asyncio.to_thread(in_thread)
        return tail, middle, inner

    tail, middle, inner = asyncio.run(run())
    assert tail == DATA[-10:]
    assert middle == DATA[5000:5020]
    assert inner.ranges == [(len(DATA) - 10, 10), (5000, 1024)]
