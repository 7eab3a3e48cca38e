"""Inspect one staged blob with the inspection engine over ranged reads, and shape its row."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

from shared.inspection import BlobRef, Outcome, ReadError, Verdict, claimed_kind, inspect_blob
from shared.inspection.blob_reader import BlobRangeReader
from shared.inspection.model import read_failed_verdict
from shared.reasons import Reason
from shared.store.assets import AssetStatus
from shared.store.staging import StagedEntry
from shared.sync.steps import BlobOutcome, InspectedBlob

__all__ = ["inspect_entry", "row_from_verdict"]

_log = logging.getLogger(__name__)

#: Read failures that mean the storage is down or throttling, not that this blob is unreadable.
_OUTAGE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

_STATUS = {
    Outcome.ACCEPTED: AssetStatus.SYNCED,
    Outcome.SKIPPED: AssetStatus.SKIPPED,
    Outcome.IGNORED: AssetStatus.IGNORED,
}
_OUTCOME = {
    Outcome.ACCEPTED: BlobOutcome.SYNCED,
    Outcome.SKIPPED: BlobOutcome.SKIPPED,
    Outcome.IGNORED: BlobOutcome.IGNORED,
}


def row_from_verdict(verdict: Verdict, entry: StagedEntry) -> dict[str, Any]:
    """The asset row's properties (keys are added by the caller). None values are left out:
    Azure Tables stores no nulls."""
    row: dict[str, Any] = {
        "name": entry.name,
        "kind": verdict.kind.value,
        "format": verdict.format,
        "size": entry.size,
        "etag": entry.etag,
        "contentType": entry.content_type,
        "lastModified": datetime.fromisoformat(entry.last_modified)
        if entry.last_modified
        else None,
        "status": _STATUS[verdict.outcome].value,
        "reason": verdict.reason.value if verdict.reason else None,
        "detail": verdict.detail or None,
        "width": verdict.width,
        "height": verdict.height,
        "orientation": verdict.orientation,
        "codec": verdict.codec,
        "pixelFormat": verdict.pix_fmt,
        "majorBrand": verdict.major_brand,
        "durationSeconds": verdict.duration,
        "frameRate": verdict.frame_rate,
        "bytesRead": verdict.cost.bytes_read,
        "usedFallback": verdict.cost.used_fallback,
        "dataRows": 0,
    }
    return {k: v for k, v in row.items() if v is not None}


async def inspect_entry(entry: StagedEntry, container: AsyncContainerClient) -> InspectedBlob:
    blob = BlobRef(
        name=entry.name, size=entry.size, content_type=entry.content_type, etag=entry.etag
    )
    reader = BlobRangeReader(container, entry.name, entry.size, etag=entry.etag)
    try:
        verdict = await inspect_blob(blob, reader)
    except ReadError as err:
        if err.missing or err.changed:
            # Deleted or replaced since the listing: the next sync sees its current state.
            return InspectedBlob(
                entry=entry,
                row=None,
                status=BlobOutcome.FAILED,
                reason="changed" if err.changed else "vanished",
                kind=claimed_kind(blob.name, blob.content_type).value,
                bytes_read=reader.bytes_read,
                requests=reader.requests,
            )
        _log.warning("read failed after retries: %s", err)
        if err.status is None or err.status in _OUTAGE_STATUS:
            cause = err.__cause__ if err.__cause__ is not None else err
            return InspectedBlob(
                entry=entry,
                row=None,
                status=BlobOutcome.FAILED,
                reason=Reason.READ_FAILED.value,
                kind=claimed_kind(blob.name, blob.content_type).value,
                bytes_read=reader.bytes_read,
                requests=reader.requests,
                outage=cause,
            )
        verdict = read_failed_verdict(blob, claimed_kind(blob.name, blob.content_type), str(err))
        row = row_from_verdict(verdict, entry)
        return InspectedBlob(
            entry=entry,
            row=row,
            status=BlobOutcome.FAILED,
            reason=Reason.READ_FAILED.value,
            kind=verdict.kind.value,
            bytes_read=reader.bytes_read,
            requests=reader.requests,
        )
    row = row_from_verdict(verdict, entry)
    return InspectedBlob(
        entry=entry,
        row=row,
        status=_OUTCOME[verdict.outcome],
        reason=row.get("reason"),
        kind=verdict.kind.value,
        bytes_read=verdict.cost.bytes_read,
        requests=verdict.cost.requests,
    )
