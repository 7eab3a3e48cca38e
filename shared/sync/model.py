"""Plain-JSON shapes that cross the durable boundary, and the pure arithmetic over them.

Everything here is small: counters and references, never lists of blob names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any, NotRequired, TypedDict

__all__ = [
    "BatchResult",
    "Counters",
    "ListedPage",
    "RunStatus",
    "SyncState",
    "add_batch",
    "add_page",
    "batch_key",
    "empty_batch",
    "empty_counters",
    "last_sync_summary",
    "percent",
]


class RunStatus(str, Enum):
    QUEUED = "queued"
    LISTING = "listing"
    INSPECTING = "inspecting"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Counters(TypedDict):
    """Cumulative counters of one run (also the orchestration's custom status)."""

    listed: int  # blobs seen in the listing so far
    processed: int  # listed blobs fully handled (unchanged, or inspected and written)
    unchanged: int  # same etag and size as the stored row: no read, no write
    synced: int  # inspected and accepted this run
    added: int  # accepted, no accepted row before
    updated: int  # accepted, replacing an accepted row with another etag
    skipped: int  # inspected and skipped (total of skippedByReason)
    skippedByReason: dict[str, int]
    ignored: int  # not media (kind other)
    failed: int  # could not be read after retries
    removed: int  # rows whose blob vanished
    bytesRead: int
    requests: int
    dataRows: int
    pages: int
    #: Listed blobs that had a live stored row (absent in runs started before it was counted):
    #: when it adds up to the snapshot's live rows, nothing vanished.
    known: NotRequired[int]


def empty_counters() -> Counters:
    return Counters(
        listed=0,
        processed=0,
        unchanged=0,
        synced=0,
        added=0,
        updated=0,
        skipped=0,
        skippedByReason={},
        ignored=0,
        failed=0,
        removed=0,
        bytesRead=0,
        requests=0,
        dataRows=0,
        pages=0,
    )


class ListedPage(TypedDict):
    """What the list activity returns: counts and a reference to the staged changed blobs."""

    index: int
    ref: str | None  # staged blob holding the changed entries (None when nothing changed)
    listed: int
    unchanged: int
    changed: int
    #: Listing pages read in this step (one per folder listed at once); absent before the walk.
    pages: NotRequired[int]
    #: Listed blobs that had a live stored row.
    known: NotRequired[int]
    #: Where the listing goes on (``shared.customer_storage.walk_step``): a small JSON object,
    #: or a flat marker in runs started before the walk; None once everything is listed.
    nextCursor: str | dict[str, Any] | None


class BatchResult(TypedDict):
    """What one inspection activity returns: counts only (per-blob outcomes are in the rows)."""

    synced: int
    added: int
    updated: int
    skippedByReason: dict[str, int]
    ignored: int
    failed: int
    bytesRead: int
    requests: int
    dataRows: int


class SyncState(TypedDict):
    """The orchestration input, carried across ``continue_as_new``."""

    runId: str
    org: str
    connectionId: str
    generation: int
    #: The listed page the next execution continues with (``continue_as_new``); None until the
    #: first page is listed. (A run's phase is its status: listing, inspecting, finalizing.)
    pendingPage: ListedPage | None
    totals: Counters
    pageSize: int
    #: Virtual folders listed at once (absent in runs started before: one flat listing).
    listWidth: NotRequired[int]
    batchSize: int
    pagesPerExecution: int
    batchesInFlight: int
    expectedTotal: NotRequired[int | None]
    phases: NotRequired[list[str]]  # phases this run went through, in order
    outageLimitSeconds: NotRequired[int]  # absent in runs started before outages were waited out
    outageRetrySeconds: NotRequired[int]


def empty_batch() -> BatchResult:
    return BatchResult(
        synced=0,
        added=0,
        updated=0,
        skippedByReason={},
        ignored=0,
        failed=0,
        bytesRead=0,
        requests=0,
        dataRows=0,
    )


def add_page(totals: Counters, page: ListedPage) -> Counters:
    out = Counters(**{**totals, "skippedByReason": dict(totals["skippedByReason"])})
    out["listed"] += page["listed"]
    out["unchanged"] += page["unchanged"]
    out["processed"] += page["unchanged"]
    out["pages"] += 1
    out["known"] = totals.get("known", 0) + page.get("known", 0)
    return out


def add_batch(totals: Counters, batch: BatchResult) -> Counters:
    out = Counters(**{**totals, "skippedByReason": dict(totals["skippedByReason"])})
    for key in (
        "synced",
        "added",
        "updated",
        "ignored",
        "failed",
        "bytesRead",
        "requests",
        "dataRows",
    ):
        out[key] += batch[key]
    skipped = 0
    for reason, n in batch["skippedByReason"].items():
        out["skippedByReason"][reason] = out["skippedByReason"].get(reason, 0) + n
        skipped += n
    out["skipped"] += skipped
    out["processed"] += batch["synced"] + skipped + batch["ignored"] + batch["failed"]
    return out


def batch_key(page: int, start: int) -> str:
    """Orders inspection batches of a run: page index, then first entry (sorts as text)."""
    return f"{page:06d}~{start:07d}"


def percent(processed: int, total: int, *, done: bool) -> float:
    if done:
        return 100.0
    if total <= 0:
        return 0.0
    return round(min(99.9, 100.0 * processed / total), 1)


def last_sync_summary(run_id: str, status: RunStatus, counters: Counters) -> dict[str, Any]:
    """The ``lastSync`` summary a finished run leaves on its connection."""
    return {
        "runId": run_id,
        "status": status.value,
        "finishedAt": datetime.now(UTC).isoformat(),
        "counts": {
            k: counters[k]
            for k in ("synced", "skipped", "ignored", "removed", "failed", "unchanged")
        },
    }
