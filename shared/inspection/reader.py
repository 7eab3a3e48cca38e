"""Reading byte ranges of one blob.

* :class:`RangeReader` — the protocol the engine needs: ``size`` and ``async read(offset,
  length)``. One call is one storage request.
* :class:`MemoryReader` — bytes in memory (unit tests, the demo); counts calls like requests.
* :class:`CachingReader` — wraps any reader, remembers every range it fetched and fetches only
  the missing part of a read (plus an optional read-ahead), so parsers can re-read freely. Its
  ``requests`` and ``bytes_read`` are what an inspection cost.
* :class:`SyncRangeFile` — a seekable, read-only, synchronous file over a
  :class:`CachingReader`, for PyAV running in a worker thread: every read is scheduled on the
  event loop that owns the reader. Nothing is read before PyAV asks for it.

The Azure adapter lives in :mod:`shared.inspection.blob_reader` (the only module importing the
storage SDK).
"""

from __future__ import annotations

import asyncio
import bisect
import io
import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "CachingReader",
    "MemoryReader",
    "RangeReader",
    "ReadError",
    "SyncRangeFile",
]

logger = logging.getLogger(__name__)


class ReadError(Exception):
    """A range could not be read. ``status`` is the HTTP status when there was one.

    ``changed`` is true when the blob no longer matches the listed etag (HTTP 412) and
    ``missing`` when it is gone (HTTP 404): the sync engine re-lists rather than skips. Messages
    never carry URLs, keys or tokens.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        changed: bool = False,
        missing: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.changed = changed
        self.missing = missing


@runtime_checkable
class RangeReader(Protocol):
    """Random access to one blob's bytes. Each ``read`` is one request to storage."""

    @property
    def size(self) -> int: ...

    async def read(self, offset: int, length: int) -> bytes:
        """Return ``length`` bytes from ``offset`` (fewer only at the end of the blob)."""
        ...


class MemoryReader:
    """A :class:`RangeReader` over bytes in memory that counts calls as requests."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self.requests = 0
        self.bytes_read = 0
        self.ranges: list[tuple[int, int]] = []

    @property
    def size(self) -> int:
        return len(self._data)

    async def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        chunk = self._data[offset : offset + length]
        self.requests += 1
        self.bytes_read += len(chunk)
        self.ranges.append((offset, len(chunk)))
        return chunk


class CachingReader:
    """Fetch each byte at most once: cached spans are merged, a read fetches only its gap.

    A read that is not fully cached issues exactly one request, covering everything from its
    first missing byte to its last missing byte (cached bytes in between are fetched again;
    parsers read forward, so this is rare), extended by ``readahead`` bytes past the read.
    """

    def __init__(self, inner: RangeReader) -> None:
        self._inner = inner
        self._size = inner.size
        self._starts: list[int] = []
        self._spans: list[bytes] = []
        self.requests = 0
        self.bytes_read = 0

    @property
    def size(self) -> int:
        return self._size

    def cached(self, offset: int, length: int) -> bytes | None:
        """The bytes if the whole range (clipped to the blob) is cached, else ``None``."""
        end = min(self._size, offset + length)
        if offset >= end:
            return b""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return None
        start, span = self._starts[i], self._spans[i]
        if start + len(span) >= end:
            return span[offset - start : end - start]
        return None

    def is_cached(self, offset: int, length: int) -> bool:
        return self.cached(offset, length) is not None

    async def read(self, offset: int, length: int, *, readahead: int = 0) -> bytes:
        """Return up to ``length`` bytes at ``offset``; short only at the end of the blob."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        end = min(self._size, offset + length)
        if offset >= end:
            return b""
        hit = self.cached(offset, length)
        if hit is not None:
            return hit
        gap_start, gap_end = self._gap(offset, end)
        fetch_end = min(self._size, max(gap_end, end + readahead))
        want = fetch_end - gap_start
        data = await self._inner.read(gap_start, want)
        self.requests += 1
        self.bytes_read += len(data)
        if len(data) != want:
            raise ReadError(f"short read: asked {want} bytes at {gap_start}, got {len(data)}")
        self._insert(gap_start, data)
        hit = self.cached(offset, length)
        if hit is None:  # pragma: no cover - _insert guarantees coverage
            raise ReadError("range not cached after fetch")
        return hit

    def _gap(self, offset: int, end: int) -> tuple[int, int]:
        """First and one-past-last missing byte of [offset, end)."""
        start = offset
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._starts[i] + len(self._spans[i]) > start:
            start = self._starts[i] + len(self._spans[i])
        stop = end
        j = bisect.bisect_right(self._starts, stop - 1) - 1
        if j >= 0 and self._starts[j] <= stop - 1 < self._starts[j] + len(self._spans[j]):
            stop = self._starts[j]
        if stop <= start:  # the gap lies between two spans that both overlap the read
            stop = end
        return start, stop

    def _insert(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        new_start, pieces_end = offset, end
        # Merge every span that overlaps or touches [offset, end).
        lo = bisect.bisect_left(self._starts, offset)
        if lo > 0 and self._starts[lo - 1] + len(self._spans[lo - 1]) >= offset:
            lo -= 1
        hi = lo
        while hi < len(self._starts) and self._starts[hi] <= end:
            hi += 1
        if lo == hi:
            self._starts.insert(lo, offset)
            self._spans.insert(lo, data)
            return
        new_start = min(offset, self._starts[lo])
        pieces_end = max(end, self._starts[hi - 1] + len(self._spans[hi - 1]))
        merged = bytearray(pieces_end - new_start)
        for k in range(lo, hi):
            s = self._starts[k] - new_start
            merged[s : s + len(self._spans[k])] = self._spans[k]
        merged[offset - new_start : end - new_start] = data
        self._starts[lo:hi] = [new_start]
        self._spans[lo:hi] = [bytes(merged)]


class SyncRangeFile(io.RawIOBase):
    """A read-only, seekable binary file for a worker thread; reads run on ``loop``.

    Each miss fetches at least ``block`` bytes through the caching reader. Must not be used on
    the loop's own thread (it would wait for itself).
    """

    def __init__(
        self,
        reader: CachingReader,
        loop: asyncio.AbstractEventLoop,
        *,
        block: int = 64 * 1024,
        timeout: float = 120.0,
    ) -> None:
        super().__init__()
        self._reader = reader
        self._loop = loop
        self._block = block
        self._timeout = timeout
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._reader.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view)
        if want == 0 or self._pos >= self._reader.size:
            return 0
        data = self._reader.cached(self._pos, want)
        if data is None:
            future = asyncio.run_coroutine_threadsafe(
                self._reader.read(self._pos, want, readahead=max(0, self._block - want)),
                self._loop,
            )
            data = future.result(self._timeout)
        n = len(data)
        view[:n] = data
        self._pos += n
        return n
