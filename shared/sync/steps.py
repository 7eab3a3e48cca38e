"""The bodies of the sync activities, as plain functions taking their collaborators.

- ``prepare_run``: snapshot the connection's stored rows (one table scan per run, taken by the
  first ``list_page`` while it lists).
- ``list_page``: list one page of the customer's container, compare it with the snapshot and
  stage only new or changed blobs; unchanged blobs cost no read and no write.
- ``inspect_batch``: inspect a slice of a staged page with ranged reads, charge the quota for
  newly synced assets exactly once, upsert rows in batches per partition.
- ``finish_run``: mark vanished rows removed, recount the connection's assets, close the run,
  clean up staged data.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol, TypeVar

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableClient
from azure.data.tables.aio import TableClient as AsyncTableClient
from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

from shared.asset_keys import partition_key, row_key
from shared.customer_storage import ListedBlob, is_account_not_found, valid_seed, walk_step
from shared.errors import NotFoundError
from shared.reasons import GUIDES, Reason
from shared.store import ConnectionRepository
from shared.store._common import as_int
from shared.store.assets import AssetStatus, mark_removed, scan_connection, upsert_rows
from shared.store.connections import Connection, release_connection, until_unchanged
from shared.store.runs import RunsRepository
from shared.store.staging import (
    UNREAD,
    KnownRef,
    NameLog,
    SnapshotRef,
    SnapshotRow,
    StagedEntry,
    Staging,
)
from shared.sync.manifest import discard_manifest, keep_manifest, take_snapshot
from shared.sync.model import (
    BatchResult,
    Counters,
    ListedPage,
    RunStatus,
    empty_batch,
    last_sync_summary,
)
from shared.sync.progress import PROGRESS_INTERVAL_SECONDS

__all__ = [
    "RETRY_REASONS",
    "Charger",
    "CustomerStorageError",
    "InspectedBlob",
    "Inspector",
    "asset_counts",
    "finish_removed",
    "finish_run",
    "inspect_batch",
    "list_page",
    "prepare_run",
    "with_retries",
]

_log = logging.getLogger(__name__)

#: Skipped rows that a later sync retries even when the blob did not change.
RETRY_REASONS = frozenset(r.value for r, g in GUIDES.items() if g.retry_unchanged)

T = TypeVar("T")


class CustomerStorageError(Exception):
    """The customer's storage failed a step (after retries); ``__cause__`` holds the SDK's
    error. Anything else an activity raises is the platform's own store failing."""


def _transient(exc: BaseException) -> bool:
    if is_account_not_found(exc):
        return False  # a host name that does not exist never comes back by retrying
    if isinstance(exc, ServiceRequestError | ServiceResponseError | asyncio.TimeoutError):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code in (408, 429, 500, 502, 503, 504)
    return False


async def with_retries(
    op: Callable[[], Awaitable[T]], *, attempts: int = 4, base_delay: float = 0.5
) -> T:
    """Run ``op`` again after transient storage errors, with jittered exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return await op()
        except Exception as exc:
            if attempt == attempts or not _transient(exc):
                raise
            delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            _log.warning("transient %s, retrying in %.1fs", type(exc).__name__, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


# -- prepare -----------------------------------------------------------------------------------
def prepare_run(
    *, run_id: str, connection: Connection, assets: TableClient, staging: Staging
) -> SnapshotRef:
    """The run's snapshot of stored rows: the connection's manifest when it can be trusted,
    else one scan of the table (``shared.sync.manifest``). Returns its reference."""
    return take_snapshot(run_id=run_id, connection=connection, assets=assets, staging=staging)


# -- list --------------------------------------------------------------------------------------
class _SnapshotLookup:
    """Stored rows for the name range of one listing page, from the sorted snapshot chunks.
    Keeps the last chunks read as stored (compressed: the folders listed at once each go
    through their own chunks, and a chunk read again would wait behind their listing pages),
    and the last two decoded (a folder's next page usually starts where its last ended)."""

    KEEP = 16
    KEEP_DECODED = 2

    def __init__(
        self,
        staging: Staging,
        run_id: str,
        ref: KnownRef = UNREAD,
    ) -> None:
        self._staging = staging
        ref = staging.snapshot_ref(run_id, ref)
        self._base = ref["base"] if ref else ""
        self._firsts = ref["firsts"] if ref else []
        self._kept: dict[int, bytes] = {}
        self._decoded: dict[int, dict[str, SnapshotRow]] = {}
        #: No stored row at all (a first sync): every listed blob is new.
        self.empty = not self._firsts

    @staticmethod
    def _touch(cache: dict[int, Any], k: int, value: Any, keep: int) -> None:
        cache[k] = value  # most recently used last
        while len(cache) > keep:
            del cache[next(iter(cache))]

    def _chunk(self, k: int) -> dict[str, SnapshotRow]:
        rows = self._decoded.pop(k, None)
        if rows is None:
            data = self._kept.pop(k, None)
            if data is None:
                data = self._staging.chunk_data(self._base, k)
            self._touch(self._kept, k, data, self.KEEP)
            rows = {row.name: row for row in self._staging.decode_chunk(data)}
        self._touch(self._decoded, k, rows, self.KEEP_DECODED)
        return rows

    def rows_between(self, first: str, last: str) -> dict[str, SnapshotRow]:
        if not self._firsts:
            return {}
        lo = max(0, bisect.bisect_right(self._firsts, first) - 1)
        hi = max(0, bisect.bisect_right(self._firsts, last) - 1)
        if lo == hi:
            return self._chunk(lo)
        found: dict[str, SnapshotRow] = {}
        for k in range(lo, hi + 1):
            found.update(self._chunk(k))
        return found


def _unchanged(prev: SnapshotRow | None, etag: str, size: int) -> bool:
    if prev is None or prev.etag != etag or prev.size != size:
        return False
    if prev.status is AssetStatus.REMOVED:
        return False
    return not (prev.status is AssetStatus.SKIPPED and prev.reason in RETRY_REASONS)


#: A listing step goes on until it has listed a page's worth of blobs per folder listed at
#: once, staged a page of changed blobs (so that their inspection starts), or run this long
#: (so that progress moves); the requests already sent are still taken.
STEP_SECONDS = 5.0


async def list_page(
    *,
    run_id: str,
    index: int,
    cursor: str | dict[str, Any] | None,
    prefix: str,
    page_size: int,
    container: AsyncContainerClient,
    staging: Staging,
    width: int = 1,
    snapshot: Callable[[], SnapshotRef] | None = None,
    seed: object = None,
) -> ListedPage:
    """One step of the container's walk (``shared.customer_storage.walk_step``: up to
    ``width`` virtual folders listed at once, each page taken as it arrives): compare each page
    with the run's snapshot and stage only the new or changed blobs. ``snapshot`` (first step
    only) takes the run's snapshot of stored rows in a thread while the first pages are
    listed. ``seed`` (first step only) is the shape of the previous run's walk: the walk
    starts with all its folders at once (ignored unless it is a valid one)."""
    taken = asyncio.ensure_future(asyncio.to_thread(snapshot)) if snapshot is not None else None
    lookup: _SnapshotLookup | None = None
    waiting: deque[list[ListedBlob]] = deque()  # pages listed, not compared yet
    changed: list[StagedEntry] = []
    names = NameLog()
    known = 0
    began = time.monotonic()
    limit = page_size * max(1, width)

    def compare(segment: list[ListedBlob]) -> None:
        nonlocal lookup, known
        if lookup is None:
            lookup = _SnapshotLookup(staging, run_id)
        # A page is in name order: its stored rows are those of one name range.
        stored = lookup.rows_between(segment[0].name, segment[-1].name)
        names.add_page([blob.name for blob in segment])
        for blob in segment:
            prev = stored.get(blob.name)
            if prev is not None and prev.status is not AssetStatus.REMOVED:
                known += 1
            if _unchanged(prev, blob.etag, blob.size):
                continue
            modified = blob.last_modified
            changed.append(
                StagedEntry(
                    name=blob.name,
                    etag=blob.etag,
                    size=blob.size,
                    content_type=blob.content_type,
                    last_modified=modified.isoformat() if modified else None,
                    previous=prev.status if prev else None,
                )
            )

    async def prepare() -> None:
        # The snapshot (taken now on a first step) decides the pace as soon as it is known,
        # whether or not a page of blobs has come yet.
        nonlocal lookup
        ref: KnownRef = await taken if taken is not None else UNREAD
        lookup = await asyncio.to_thread(_SnapshotLookup, staging, run_id, ref)
        seen["empty"] = lookup.empty

    async def consume() -> None:
        # Off the event loop (the snapshot chunks are read from the metadata store), so the
        # loop keeps asking for pages while one is compared; one page at a time, in order.
        await prepared
        while waiting:
            await asyncio.to_thread(compare, waiting.popleft())

    consumer: asyncio.Future[None] | None = None
    listed = 0
    #: Whether the run's snapshot is empty (a first sync); None until it is known.
    seen: dict[str, bool | None] = {"empty": None}

    def may_ask(in_flight: int) -> bool:
        # Against an empty snapshot every page is all changes: a page at a time is what the
        # inspection can take, and the step (and its history) stays one page of work.
        return seen["empty"] is not True

    def take(segment: list[ListedBlob]) -> bool:
        nonlocal consumer, listed
        waiting.append(segment)
        listed += len(segment)
        if consumer is not None and consumer.done() and consumer.exception() is not None:
            return False  # a comparison failed: stop here, the step fails with its error
        if consumer is None or consumer.done():
            consumer = asyncio.ensure_future(consume())
        # Pages not compared yet count as changes unless the snapshot is known to hold rows.
        unsure = listed - names.count if seen["empty"] is not False else 0
        return (
            listed < limit
            and len(changed) + unsure < page_size
            and time.monotonic() - began < STEP_SECONDS
        )

    prepared = asyncio.ensure_future(prepare())
    if taken is None:  # the snapshot is there already: know its pace before the first request
        await prepared
    try:
        step = await walk_step(
            container,
            cursor,
            root=prefix,
            page_size=page_size,
            width=width,
            take=take,
            may_ask=may_ask,
            seed=valid_seed(seed, prefix) if cursor is None and seed is not None else None,
        )
    except Exception as exc:
        # The storage pipeline already retries each request; the orchestrator waits out longer
        # outages with durable timers. Retrying here too would multiply the wait.
        for pending in (consumer, prepared):
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
        raise CustomerStorageError("listing failed") from exc
    await prepared  # the metadata store's own errors surface as they are
    if consumer is not None:
        await consumer
    await consume()  # pages that came after the last comparison finished
    if step.shape is not None:
        staging.put_walk_shape(run_id, [dict(p) for p in step.shape])
    staging.put_listed(run_id, index, names, known=known)
    ref = staging.put_page(run_id, index, changed) if changed else None
    return ListedPage(
        index=index,
        ref=ref,
        listed=names.count,
        unchanged=names.count - len(changed),
        changed=len(changed),
        pages=step.requests,
        known=known,
        nextCursor=step.cursor,
    )


# -- inspect -----------------------------------------------------------------------------------
class BlobOutcome(str, Enum):
    """What inspecting one staged blob came to (a run's counters are named after these)."""

    SYNCED = "synced"
    SKIPPED = "skipped"
    IGNORED = "ignored"
    #: Not read: gone or replaced since the listing (no row is written, the next sync sees it),
    #: or unreadable after retries (a ``read_failed`` row).
    FAILED = "failed"


@dataclass(frozen=True)
class InspectedBlob:
    """The outcome for one staged blob: the row to write (None: write nothing)."""

    entry: StagedEntry
    row: dict[str, Any] | None
    status: BlobOutcome
    #: A skip reason code (``shared.reasons.Reason``), or for a blob not read, why:
    #: "changed" or "vanished".
    reason: str | None
    kind: str
    bytes_read: int
    requests: int
    #: The storage error of a read that failed after retries because of an outage (unreachable,
    #: throttled, 5xx): the batch is retried later rather than recorded as unreadable.
    outage: BaseException | None = None


class Inspector(Protocol):
    def __call__(
        self, entry: StagedEntry, container: AsyncContainerClient
    ) -> Awaitable[InspectedBlob]: ...


class Charger(Protocol):
    """Charges the longest prefix of ``costs`` that fits the quota, once per ``key``."""

    def __call__(self, *, key: str, costs: Sequence[int]) -> int: ...


async def inspect_batch(
    *,
    run_id: str,
    connection_id: str,
    ref: str,
    start: int,
    end: int,
    container: AsyncContainerClient,
    assets: AsyncTableClient,
    staging: Staging,
    inspector: Inspector,
    charge: Charger,
    rows_per_kind: Mapping[str, int],
    read_concurrency: int,
    report: Callable[[int], None] | None = None,
) -> BatchResult:
    entries = staging.get_entries(ref, start, end)
    gate = asyncio.Semaphore(read_concurrency)
    done = 0

    async def one(entry: StagedEntry) -> InspectedBlob:
        nonlocal done
        async with gate:
            item = await inspector(entry, container)
        done += 1
        return item

    async def ticker() -> None:
        """Report progress twice a second, off the event loop's path."""
        assert report is not None
        reported = 0
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
            if done > reported:
                reported = done
                await asyncio.to_thread(report, reported)

    ticking = asyncio.create_task(ticker()) if report is not None else None
    try:
        inspected = list(await asyncio.gather(*(one(e) for e in entries)))
        faulty = [k for k, i in enumerate(inspected) if i.outage is not None]
        if faulty and len(faulty) < len(inspected):
            # A few reads failed while the rest went through: read those once more now that the
            # batch is otherwise done (they never held the others), before failing the batch.
            async def retry(entry: StagedEntry) -> InspectedBlob:
                async with gate:
                    return await inspector(entry, container)

            again = await asyncio.gather(*(retry(inspected[k].entry) for k in faulty))
            for k, item in zip(faulty, again, strict=True):
                inspected[k] = item
    finally:
        if ticking is not None:
            ticking.cancel()
    outage = next((i.outage for i in inspected if i.outage is not None), None)
    if outage is not None:
        # Nothing is charged or written: the whole batch runs again once storage answers.
        raise CustomerStorageError(f"reads of batch {ref}[{start}:{end}] failed") from outage

    # Quota: newly synced assets (no synced row before) cost data rows, charged once per batch.
    new_assets = [
        i
        for i in inspected
        if i.status is BlobOutcome.SYNCED and i.entry.previous is not AssetStatus.SYNCED
    ]
    costs = [rows_per_kind.get(i.kind, 0) for i in new_assets]
    # The usage row is a blocking ETag loop with back-off: keep it off the event loop.
    granted = await asyncio.to_thread(
        charge, key=f"{run_id}~{ref.rsplit('/', 1)[-1]}~{start}", costs=costs
    )
    budget = granted
    now = datetime.now(UTC)
    result = empty_batch()
    skipped: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    new_ids = {id(i) for i in new_assets}
    for item in inspected:
        result["bytesRead"] += item.bytes_read
        result["requests"] += item.requests
        row = item.row
        status = item.status
        if id(item) in new_ids and row is not None:
            cost = rows_per_kind.get(item.kind, 0)
            if cost <= budget:
                budget -= cost
                row["dataRows"] = cost
                result["dataRows"] += cost
            else:
                status = BlobOutcome.SKIPPED
                row["status"] = AssetStatus.SKIPPED.value
                row["reason"] = Reason.QUOTA_EXCEEDED.value
                row["detail"] = f"needs {cost} data rows; the monthly quota is used up"
                row["dataRows"] = 0
        if status is BlobOutcome.SYNCED:
            result["synced"] += 1
            if item.entry.previous is AssetStatus.SYNCED:
                result["updated"] += 1
            else:
                result["added"] += 1
        elif status is BlobOutcome.SKIPPED and row is not None:
            skipped[str(row["reason"])] += 1
        elif status is BlobOutcome.IGNORED:
            result["ignored"] += 1
        elif status is BlobOutcome.FAILED:
            result["failed"] += 1
        if row is not None:
            row["PartitionKey"] = partition_key(connection_id, item.entry.name)
            row["RowKey"] = row_key(item.entry.name)
            row["lastRunId"] = run_id
            row["updatedAt"] = now
            rows.append(row)
    result["skippedByReason"] = dict(skipped)
    await with_retries(lambda: upsert_rows(assets, rows))
    if rows:  # what the finish folds into the connection's next manifest
        page = ref.rsplit("/", 1)[-1].removesuffix(".json.gz")
        written = [written_row(row) for row in rows]
        await asyncio.to_thread(staging.put_results, run_id, f"{page}-{start:06d}", written)
    if report is not None:
        await asyncio.to_thread(report, len(entries))
    return result


def written_row(row: Mapping[str, Any]) -> SnapshotRow:
    """An asset row as change detection sees it."""
    return SnapshotRow(
        name=str(row["name"]),
        etag=str(row.get("etag") or ""),
        size=as_int(row.get("size")),
        status=AssetStatus(row["status"]),
        reason=row.get("reason"),
    )


# -- finish ------------------------------------------------------------------------------------
async def finish_removed(
    *,
    run_id: str,
    connection_id: str,
    assets: AsyncTableClient,
    staging: Staging,
    known: int | None = None,
    chunks_per_pass: int = 4,
    ref: KnownRef = UNREAD,
) -> list[str]:
    """Mark rows whose blobs were not listed in this (complete) run as removed; their names.
    ``known`` is the run's count of listed blobs that had a live stored row, as the
    orchestrator summed it (else it is read back from what the listing steps staged).

    The snapshot is compared ``chunks_per_pass`` chunks (of 5,000 rows) at a time with the
    listed names of their name range, read again for each pass: the finish holds about 20,000
    names, not every name of the container. ``ref``: the run's snapshot reference when the
    caller has read it already (None: the run took none)."""
    ref = staging.snapshot_ref(run_id, ref)
    live = ref.get("live") if ref is not None else None
    if live is not None and known is None:
        known = staging.known_listed(run_id)
    # Each name is listed once, so the count never exceeds the live rows: a partial sum (a run
    # started before it was counted) can only fall short and send the finish the long way.
    if live is not None and known == live:
        # Every stored row was listed again (each name is listed once): nothing vanished, and
        # neither the names nor the snapshot need reading.
        return []
    if ref is None:
        return []  # no snapshot: no stored row to miss
    firsts = ref["firsts"]
    gone: list[str] = []
    for k in range(0, len(firsts), chunks_per_pass):
        lo = firsts[k] if k else None  # no stored row sorts before the first chunk's first
        hi = firsts[k + chunks_per_pass] if k + chunks_per_pass < len(firsts) else None
        listed = {
            name
            for name in staging.iter_listed(run_id)
            if (lo is None or name >= lo) and (hi is None or name < hi)
        }
        gone += [
            row.name
            for row in staging.iter_snapshot(run_id, chunks=range(k, k + chunks_per_pass), ref=ref)
            if row.status is not AssetStatus.REMOVED and row.name not in listed
        ]
    if gone:
        await with_retries(lambda: mark_removed(assets, connection_id, gone, run_id))
    return gone


def asset_counts(assets: TableClient, connection_id: str) -> dict[str, int]:
    """Rows of a connection by status, plus the number of assets (synced rows)."""
    counts: Counter[str] = Counter(r.status.value for r in scan_connection(assets, connection_id))
    return {status.value: counts.get(status.value, 0) for status in AssetStatus}


def recount_assets(
    org: str, connection_id: str, *, assets: TableClient, connections: ConnectionRepository
) -> dict[str, int]:
    """Count the connection's rows again and store the counts on it (after a cancelled run,
    whose orchestration never reaches the finish step that does this).

    The row is read before the scan and written only if unchanged since: two recounts that
    overlap (the run-end step and an inspection still in flight when the run was cancelled)
    cannot leave the older scan's counts behind, because the one whose write is refused
    scans again."""

    def step() -> dict[str, int]:
        row = connections.find(org, connection_id)
        counts = asset_counts(assets, connection_id)
        if row is not None:
            connections.merge(row, {"assetCounts": json.dumps(counts)})
        return counts

    return until_unchanged(step)


def settle_if_cancelled(
    org: str,
    connection_id: str,
    run_id: str,
    *,
    assets: TableClient,
    connections: ConnectionRepository,
    runs: RunsRepository,
    staging: Staging,
) -> bool:
    """After an inspection wrote its rows and staged them: if its run was cancelled meanwhile,
    the cancel's recount may have missed the rows and its clean-up the staged data, so count
    again and clean up again. (Both are written before the run's status is read, and the cancel
    writes the status before it recounts and cleans up: either the cancel sees them, or this
    read sees the cancel.)"""
    try:
        if runs.get(connection_id, run_id).status is not RunStatus.CANCELLED:
            return False
    except NotFoundError:  # the connection and its runs were deleted meanwhile
        return False
    staging.delete_run(run_id)
    recount_assets(org, connection_id, assets=assets, connections=connections)
    return True


def totals_with_removed(totals: Counters, removed: int) -> Counters:
    out = Counters(**{**totals, "skippedByReason": dict(totals["skippedByReason"])})
    out["removed"] = removed
    return out


async def finish_run(
    *,
    org: str,
    run_id: str,
    connection_id: str,
    status: RunStatus,
    totals: Counters,
    error: Mapping[str, str] | None,
    assets_async: AsyncTableClient,
    assets: TableClient,
    connections: ConnectionRepository,
    runs: RunsRepository,
    staging: Staging,
    phases: list[str] | None = None,
) -> dict[str, Any]:
    """Close a run: deletions (complete runs only), asset counts, run row, connection, staging."""
    gone: list[str] = []
    # Read once for both the deletions and the manifest (it is written when the run starts).
    ref: KnownRef = staging.snapshot_ref(run_id) if status is RunStatus.COMPLETED else UNREAD
    if status is RunStatus.COMPLETED:
        gone = await finish_removed(
            run_id=run_id,
            connection_id=connection_id,
            assets=assets_async,
            staging=staging,
            known=totals.get("known"),
            ref=ref,
        )
    removed = len(gone)
    totals = totals_with_removed(totals, removed)
    wrote = totals["synced"] + totals["skipped"] + totals["ignored"] + totals["failed"] + removed
    # Rows may have been written whenever a page staged blobs to inspect.
    staged = totals["listed"] > totals["unchanged"] or removed > 0
    connection = connections.get(org, connection_id)  # read before any scan (manifest rule)
    previous = connection.asset_counts.to_json()
    current = runs.get(connection_id, run_id).status
    final = current if current.terminal else status  # a cancel that already closed the run wins
    scanned: dict[str, int] | None = None
    # The manifest is only touched while this run holds the connection: a run closed by
    # someone else (cancelled, or interrupted and replaced by a newer run) leaves it alone
    # (it withdrew the pointer when it started, so it cannot leave a stale one behind).
    if connection.active_run_id == run_id:
        if final is RunStatus.COMPLETED:
            scanned = keep_manifest(
                run_id=run_id,
                connection=connection,
                wrote=staged,
                assets=assets,
                staging=staging,
                gone=set(gone),
                ref=ref,
            )
        else:
            discard_manifest(connection_id=connection_id, staging=staging)
    # Nothing written: the stored counts still hold (saves a scan of every row on re-syncs).
    if scanned is not None:
        counts = scanned
    elif wrote or not any(previous.values()):
        counts = asset_counts(assets, connection_id)
    else:
        counts = previous
    # The connection first, so a reader who sees the run finished also sees its asset counts.
    release_connection(
        connections,
        org,
        connection_id,
        run_id,
        extra={
            "assetCounts": json.dumps(counts),
            "lastSync": json.dumps(last_sync_summary(run_id, final, totals)),
        },
    )
    runs.update(
        connection_id,
        run_id,
        status=final,
        counters=totals,
        error_code=(error or {}).get("code"),
        error_message=(error or {}).get("message"),
        only_if_not_terminal=True,
        phases=[*(phases or []), final.value],
    )
    staging.delete_run(run_id)
    runs.progress_board().delete(connection_id, run_id)
    return {"status": final.value, "totals": totals, "assetCounts": counts}
