"""Staged run data in the platform's metadata account (blob container ``sync-staging``).

Pages of changed blobs, the reference to the snapshot of a connection's stored rows and the
names each page listed are written here so that only references cross the durable boundary.
Everything of a run lives under ``<runId>/`` and is deleted when the run ends. Snapshot chunks
live under ``manifests/<connectionId>/<id>/`` so that a complete run can leave them to the next
run as the connection's manifest (pointer ``manifests/<connectionId>/current.json.gz``).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import heapq
import io
import itertools
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, Literal, NotRequired, TypedDict

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from shared.store._common import chunked
from shared.store.records import SnapshotRow, StagedEntry

__all__ = ["UNREAD", "KnownRef", "NameLog", "SnapshotRef", "SnapshotRow", "StagedEntry", "Staging"]

#: Folder of the connections' manifests in the staging container (never a run id).
_MANIFESTS = "manifests"

_log = logging.getLogger(__name__)

#: Entries per staged part of a page (the default inspection batch: one part per batch).
PAGE_PART = 500


class SnapshotRef(TypedDict):
    """Where a run's snapshot of stored rows lives, written once by the run's first page."""

    base: str  # blob prefix of the sorted chunks
    firsts: list[str]  # first name of each chunk
    rows: int
    source: str  # "manifest" or "scan"
    #: Rows whose status is not removed (absent in snapshots taken before it was recorded).
    live: NotRequired[int]
    #: The connection's ``assetsGeneration`` read before the rows were (the manifest's, or
    #: read before the scan): a manifest carried over from this snapshot keeps it.
    generation: int
    #: The shape of the previous run's walk of the container (folders taken as levels or
    #: listed flat), from the manifest: the seed of this run's walk.
    shape: NotRequired[list[dict[str, Any]]]
    #: The manifest bases the connection held after the previous run's finish (what it kept).
    kept: NotRequired[list[str]]


def _dump(value: Any) -> bytes:
    return gzip.compress(json.dumps(value, separators=(",", ":")).encode(), compresslevel=3)


def _load(data: bytes) -> Any:
    return json.loads(gzip.decompress(data))


#: Not read yet: a caller that does not hold a run's snapshot reference passes this.
UNREAD: Final = "unread"
#: A run's snapshot reference as a caller may hold it: read (None when the run took none), or
#: ``UNREAD``.
KnownRef = SnapshotRef | Literal["unread"] | None


class NameLog:
    """The names a listing step saw, compressed as they come: one line per page (a JSON array
    of its names). The step never holds its names as a list (about 3.5 MB for the 40,000 names
    of a wide step), and the finish reads them back a page at a time."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._buffer = io.BytesIO()
        self._stream = gzip.GzipFile(fileobj=self._buffer, mode="wb", compresslevel=3, mtime=0)
        self.count = 0
        page = list(names)
        if page:
            self.add_page(page)

    def add_page(self, names: list[str]) -> None:
        self._stream.write(json.dumps(names, separators=(",", ":")).encode() + b"\n")
        self.count += len(names)

    def data(self) -> bytes:
        """The compressed lines (the log takes no more names after this)."""
        if not self._stream.closed:
            self._stream.close()
        return self._buffer.getvalue()


def _listed_names(data: bytes) -> Iterator[str]:
    # A step staged by an earlier release is one JSON array on one line: it reads the same.
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        for line in lines:
            yield from json.loads(line)


class Staging:
    """Read and write one run's staged data."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    # -- generic ----------------------------------------------------------------------------
    def _put(self, name: str, value: Any) -> None:
        self._container.upload_blob(name, _dump(value), overwrite=True)

    def _get(self, name: str) -> Any:
        return _load(self._container.download_blob(name).readall())

    def delete_run(self, run_id: str) -> int:
        names = [b for b in self._container.list_blob_names(name_starts_with=f"{run_id}/")]
        self.delete_names(names)
        return len(names)

    def delete_names(self, names: Sequence[str]) -> None:
        """Delete blobs in batches. A blob already gone counts as deleted: a batch sent again
        after a timeout (its first try went through) or two cleanups at once must not fail."""
        for part in chunked(names, 256):  # a blob batch holds at most 256 sub-requests
            answers = self._container.delete_blobs(*part, raise_on_any_failure=False)
            failed = [a for a in answers if a.status_code not in (202, 404)]
            if failed:
                raise HttpResponseError(
                    message=f"{len(failed)} of {len(part)} staged blobs were not deleted",
                    response=failed[0],
                )

    # -- pages ------------------------------------------------------------------------------
    @staticmethod
    def page_ref(run_id: str, index: int) -> str:
        return f"{run_id}/page-{index:06d}.json.gz"

    def put_page(
        self, run_id: str, index: int, entries: list[StagedEntry], *, part: int = PAGE_PART
    ) -> str:
        """Stage a listing step's changed blobs in parts of ``part`` entries, so that an
        inspection batch reads only the parts of its own slice; returns the page's reference
        (which names the part size)."""
        base = f"{run_id}/page-{index:06d}.p{part}"
        for k, start in enumerate(range(0, len(entries), part)):
            self._put(f"{base}-{k:05d}.json.gz", entries[start : start + part])
        return f"{base}.json.gz"

    def get_entries(self, ref: str, start: int, end: int) -> list[StagedEntry]:
        """Entries ``start`` to ``end`` (excluded) of a staged page."""
        if not ref.count("/") == 1 or not ref.endswith(".json.gz") or not 0 <= start <= end:
            raise ValueError("not a staged page reference")
        stem = ref.removesuffix(".json.gz")
        _, dot, size = stem.rpartition(".p")
        if not (dot and size.isdigit() and int(size) > 0):  # one blob (an earlier release)
            return [StagedEntry.decode(item) for item in self._get(ref)[start:end]]
        part = int(size)
        out: list[StagedEntry] = []
        for k in range(start // part, (end - 1) // part + 1 if end > start else 0):
            items = self._get(f"{stem}-{k:05d}.json.gz")
            lo, hi = max(start - k * part, 0), min(end - k * part, len(items))
            out += [StagedEntry.decode(item) for item in items[lo:hi]]
        return out

    def put_listed(
        self, run_id: str, index: int, names: NameLog | Iterable[str], *, known: int | None = None
    ) -> None:
        """The names a listing step saw; ``known``: how many of them have a stored row that is
        not removed (lets the finish see that nothing vanished without reading the names)."""
        log = names if isinstance(names, NameLog) else NameLog(names)
        metadata = {"known": str(known)} if known is not None else None
        self._container.upload_blob(
            f"{run_id}/listed-{index:06d}.jsonl.gz",
            log.data(),
            overwrite=True,
            metadata=metadata,
        )

    def known_listed(self, run_id: str) -> int | None:
        """The sum of ``known`` over the run's listing steps (None if a step did not record it)."""
        total = 0
        for blob in self._container.list_blobs(
            name_starts_with=f"{run_id}/listed-", include=["metadata"]
        ):
            value = (blob.metadata or {}).get("known")
            if value is None or not value.isdigit():
                return None
            total += int(value)
        return total

    def iter_listed(self, run_id: str) -> Iterator[str]:
        """Every name the run's listing steps saw, read a step at a time and decoded a page at
        a time."""
        for name in self._container.list_blob_names(name_starts_with=f"{run_id}/listed-"):
            yield from _listed_names(self._container.download_blob(name).readall())

    # -- snapshot of stored rows -------------------------------------------------------------
    # A run's snapshot is a set of sorted chunks under a base prefix, ``manifests/<connection>/
    # <id>/``, named by a small reference in the run's own folder. The chunks are either written
    # by the run from a scan of the table, or are the connection's manifest: the chunks the
    # previous complete run left behind (see ``shared.sync.manifest``).
    @staticmethod
    def manifest_base(connection_id: str, manifest_id: str) -> str:
        return f"{_MANIFESTS}/{connection_id}/{manifest_id}"

    def put_chunks(self, base: str, rows: list[SnapshotRow], chunk: int = 5000) -> list[str]:
        """Store rows sorted by name in chunks; returns the first name of each chunk."""
        rows.sort(key=lambda r: r.name)
        return self.put_sorted_chunks(base, rows, chunk)

    def put_sorted_chunks(
        self, base: str, rows: Iterable[SnapshotRow], chunk: int = 5000
    ) -> list[str]:
        """Store rows already sorted by name in chunks, holding one chunk at a time."""
        firsts: list[str] = []
        part: list[SnapshotRow] = []

        def flush() -> None:
            firsts.append(part[0].name)
            self._put(f"{base}/chunk-{len(firsts) - 1:06d}.json.gz", part)
            part.clear()

        for row in rows:
            part.append(row)
            if len(part) == chunk:
                flush()
        if part:
            flush()
        return firsts

    # -- rows a run wrote ----------------------------------------------------------------------
    def put_results(self, run_id: str, key: str, rows: list[SnapshotRow]) -> None:
        """The rows one inspection batch wrote (``key`` names the batch; a retry replaces),
        sorted by name, with the first name as metadata (so that a merge of every batch's rows
        opens a batch's rows only when it reaches them)."""
        ordered = sorted(rows, key=lambda r: r.name)
        first = ordered[0].name if ordered else ""
        self._container.upload_blob(
            f"{run_id}/results-{key}.json.gz",
            _dump(ordered),
            overwrite=True,
            metadata={"first": base64.b64encode(first.encode()).decode()},
        )

    def iter_results(self, run_id: str) -> Iterator[SnapshotRow]:
        """The rows the run's batches wrote, in name order, one per name (a later batch's row
        wins). A batch's rows are read only once the merge reaches its first name, so only the
        batches whose name range spans the position reached are held."""
        runs: list[tuple[str, int, str]] = []  # (first name, batch order, blob)
        loose: list[list[SnapshotRow]] = []  # staged by an earlier release: no first name
        for order, blob in enumerate(
            self._container.list_blobs(name_starts_with=f"{run_id}/results-", include=["metadata"])
        ):
            first = (blob.metadata or {}).get("first")
            if first is None:
                decoded = map(SnapshotRow.decode, self._get(blob.name))
                loose.append(sorted(decoded, key=lambda r: r.name))
            elif first:
                runs.append((base64.b64decode(first).decode(), order, blob.name))
        runs.sort(key=lambda r: (r[0], -r[1]))
        # (name, -order, tiebreak, row, rest of its batch); equal names: the latest batch first
        heap: list[tuple[str, int, int, SnapshotRow, Iterator[SnapshotRow]]] = []
        count = itertools.count()

        def push(order: int, rows: Iterator[SnapshotRow]) -> None:
            row = next(rows, None)
            if row is not None:
                heapq.heappush(heap, (row.name, -order, next(count), row, rows))

        for k, rows in enumerate(loose):
            push(len(runs) + k, iter(rows))
        k = 0
        last: str | None = None
        while heap or k < len(runs):
            while k < len(runs) and (not heap or runs[k][0] <= heap[0][0]):
                _, order, blob_name = runs[k]
                push(order, map(SnapshotRow.decode, self._get(blob_name)))
                k += 1
            name, neg, _, row, rest = heapq.heappop(heap)
            push(-neg, rest)
            if name != last:
                last = name
                yield row

    def chunk(self, base: str, k: int) -> list[SnapshotRow]:
        return self.decode_chunk(self.chunk_data(base, k))

    def chunk_data(self, base: str, k: int) -> bytes:
        """One snapshot chunk as stored (compressed: a tenth of its decoded rows' memory)."""
        return self._container.download_blob(f"{base}/chunk-{k:06d}.json.gz").readall()

    @staticmethod
    def decode_chunk(data: bytes) -> list[SnapshotRow]:
        """The rows of a chunk as :meth:`chunk_data` returned it."""
        return [SnapshotRow.decode(item) for item in _load(data)]

    def put_snapshot_ref(self, run_id: str, ref: SnapshotRef) -> None:
        self._put(f"{run_id}/snapshot.json.gz", ref)

    def snapshot_ref(self, run_id: str, known: KnownRef = UNREAD) -> SnapshotRef | None:
        """The run's snapshot reference (None: the run took none); ``known`` when the caller
        holds it already (it is written once, when the run starts), else read."""
        if known != UNREAD:
            return known
        try:
            ref: SnapshotRef = self._get(f"{run_id}/snapshot.json.gz")
        except ResourceNotFoundError:
            return None
        return ref

    def put_walk_shape(self, run_id: str, shape: list[dict[str, Any]]) -> None:
        """The shape of the run's finished walk, for the manifest the run leaves behind."""
        self._put(f"{run_id}/shape.json.gz", shape)

    def walk_shape(self, run_id: str) -> list[dict[str, Any]] | None:
        try:
            shape: list[dict[str, Any]] = self._get(f"{run_id}/shape.json.gz")
        except ResourceNotFoundError:
            return None
        return shape

    def iter_snapshot(
        self,
        run_id: str,
        *,
        strict: bool = False,
        chunks: range | None = None,
        ref: SnapshotRef | None = None,
    ) -> Iterator[SnapshotRow]:
        """The run's snapshot rows in name order (of ``chunks`` only, if given; ``ref``: the
        run's snapshot reference when the caller has read it already). A chunk that is gone
        ends the rows early, or raises ``ResourceNotFoundError`` when ``strict``."""
        ref = ref if ref is not None else self.snapshot_ref(run_id)
        if ref is None:
            return
        for k in chunks if chunks is not None else range(len(ref["firsts"])):
            if k >= len(ref["firsts"]):
                return
            try:
                rows = self.chunk(ref["base"], k)
            except ResourceNotFoundError:
                if strict:
                    raise
                # Only a finish retried after it replaced the manifest gets here: the rows it
                # marked removed then are marked; none is marked removed by mistake.
                _log.warning("snapshot chunk %d of run %s is gone", k, run_id)
                return
            yield from rows

    # -- the connection's manifest -------------------------------------------------------------
    def _pointer(self, connection_id: str) -> str:
        return f"{_MANIFESTS}/{connection_id}/current.json.gz"

    def manifest(self, connection_id: str) -> dict[str, Any] | None:
        try:
            value: dict[str, Any] = self._get(self._pointer(connection_id))
        except ResourceNotFoundError:
            return None
        return value

    def put_manifest(self, connection_id: str, pointer: dict[str, Any]) -> None:
        self._put(self._pointer(connection_id), pointer)

    def withdraw_manifest(self, connection_id: str, run_id: str) -> None:
        """Replace the pointer with one no run trusts (it names no manifest)."""
        self._put(self._pointer(connection_id), {"withdrawnBy": run_id})

    def drop_manifest(self, connection_id: str) -> None:
        """Withdraw the pointer (its chunks stay until ``prune_manifests``)."""
        with contextlib.suppress(ResourceNotFoundError):
            self._container.delete_blob(self._pointer(connection_id))

    def prune_manifests(self, connection_id: str, keep: tuple[str, ...] = ()) -> int:
        """Delete the connection's manifest data except the chunks under the ``keep`` bases
        (and the pointer, when any base is kept); everything when ``keep`` is empty."""
        folder = f"{_MANIFESTS}/{connection_id}/"
        pointer = self._pointer(connection_id)
        names = [
            n
            for n in self._container.list_blob_names(name_starts_with=folder)
            if not keep or not (n == pointer or any(n.startswith(f"{b}/") for b in keep))
        ]
        self.delete_names(names)
        return len(names)
