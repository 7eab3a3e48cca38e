"""Small helpers shared by the table repositories."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.data.tables import EdmType, EntityProperty

T = TypeVar("T")

__all__ = [
    "BATCH_LIMIT",
    "as_datetime",
    "as_int",
    "chunked",
    "iso",
    "json_object",
    "table_batches",
    "utcnow",
    "writable",
]

#: Entity-group transactions hold at most 100 entities of one partition (Azurite breaks on 101)
#: and at most 4 MiB; batches stay under 3 MiB for headroom.
BATCH_LIMIT = 100
_BATCH_BYTES = 3 * 1024 * 1024


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and whole seconds: ``2026-11-24T14:45:00Z``."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def as_datetime(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


_INT32 = range(-(2**31), 2**31)


def writable(row: dict[str, Any]) -> dict[str, Any]:
    """A row as it can be written: an integer beyond 32 bits (a blob of 2 GiB or more) goes as
    ``Edm.Int64``; the SDK refuses to send a plain one. Read it back with :func:`as_int`."""
    if all(type(v) is not int or v in _INT32 for v in row.values()):
        return row
    return {
        k: EntityProperty(v, EdmType.INT64) if type(v) is int and v not in _INT32 else v
        for k, v in row.items()
    }


def as_int(value: Any, default: int = 0) -> int:
    """An integer property; Int64 values may come back wrapped as ``EntityProperty``."""
    raw = getattr(value, "value", value)
    if isinstance(raw, bool):
        return default
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            return default
    return default


def json_object(value: Any) -> dict[str, Any] | None:
    """A JSON object stored as a string property (or already parsed); None when absent."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Entities grouped for entity-group transactions: one partition, at most
    :data:`BATCH_LIMIT` entities and about 3 MiB each."""
    by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_partition[row["PartitionKey"]].append(row)
    for partition_rows in by_partition.values():
        batch: list[dict[str, Any]] = []
        size = 0
        for row in partition_rows:
            row_size = len(json.dumps(row, default=str))
            if batch and (len(batch) >= BATCH_LIMIT or size + row_size > _BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(row)
            size += row_size
        if batch:
            yield batch
