"""The records a sync stages between its steps, typed: a blob to inspect and a stored row as
change detection sees it. ``shared.store.staging`` alone knows how they are written (compact
JSON arrays); everything else reads fields by name."""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

__all__ = ["AssetStatus", "SnapshotRow", "StagedEntry"]


class AssetStatus(str, Enum):
    """The status of an asset row (see ``shared.store.assets``)."""

    SYNCED = "synced"
    SKIPPED = "skipped"
    IGNORED = "ignored"
    REMOVED = "removed"


def _status(value: Any) -> AssetStatus | None:
    return AssetStatus(value) if value else None


class StagedEntry(NamedTuple):
    """A listed blob that needs inspection (new, changed, or to retry)."""

    name: str
    etag: str
    size: int
    content_type: str | None
    last_modified: str | None  # ISO 8601
    previous: AssetStatus | None  # the stored row's status; None when there was no row

    @classmethod
    def decode(cls, item: Any) -> StagedEntry:
        if isinstance(item, dict):  # staged before entries were arrays
            item = [item["n"], item["e"], item["s"], item["t"], item["m"], item["p"]]
        name, etag, size, content_type, modified, previous = item
        return cls(str(name), str(etag), int(size), content_type, modified, _status(previous))


class SnapshotRow(NamedTuple):
    """A stored asset row, reduced to what change detection needs."""

    name: str
    etag: str
    size: int
    status: AssetStatus
    reason: str | None

    @classmethod
    def decode(cls, item: Any) -> SnapshotRow:
        if isinstance(item, dict):  # manifests written before rows were arrays
            item = [item["n"], item["e"], item["s"], item["st"], item["r"]]
        name, etag, size, status, reason = item
        return cls(str(name), str(etag), int(size), AssetStatus(status), reason)
