"""The ``Assets`` table: one row per blob of a connection (see ``shared.asset_keys``).

Statuses: ``synced`` (an asset), ``skipped`` (media that fails a rule, with a reason),
``ignored`` (not media; kept so a re-sync need not read it again) and ``removed`` (the blob
vanished; the row is kept so labels attached to it survive).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.data.tables.aio import TableClient as AsyncTableClient

from shared.asset_keys import BUCKETS, partition_key, row_key
from shared.store._batch import submit_upserts
from shared.store._common import as_int, table_batches, writable
from shared.store.records import AssetStatus, SnapshotRow

__all__ = [
    "AssetStatus",
    "AssetsPage",
    "connection_filter",
    "get_asset",
    "mark_removed",
    "query_assets",
    "scan_connection",
    "upsert_rows",
]


def connection_filter(connection_id: str) -> tuple[str, dict[str, str]]:
    """An OData filter selecting every partition of a connection (and nothing else)."""
    return (
        "PartitionKey ge @lo and PartitionKey le @hi",
        {"lo": f"{connection_id}~00", "hi": f"{connection_id}~{BUCKETS - 1:02x}"},
    )


async def upsert_rows(
    table: AsyncTableClient,
    rows: Iterable[dict[str, Any]],
    *,
    mode: UpdateMode = UpdateMode.REPLACE,
    in_flight: int = 4,
) -> int:
    """Upsert rows in entity-group transactions (same partition, ≤ 100, ≤ 4 MiB)."""
    gate = asyncio.Semaphore(in_flight)
    written = 0

    async def submit(batch: list[dict[str, Any]]) -> None:
        nonlocal written
        async with gate:
            await submit_upserts(table, [writable(row) for row in batch], mode)
            written += len(batch)

    await asyncio.gather(*(submit(b) for b in table_batches(rows)))
    return written


def scan_connection(table: TableClient, connection_id: str) -> Iterator[SnapshotRow]:
    """Every stored row of a connection, reduced to what change detection needs."""
    query, params = connection_filter(connection_id)
    for entity in table.query_entities(
        query,
        parameters=params,
        select=["name", "etag", "size", "status", "reason"],
        results_per_page=1000,
    ):
        yield SnapshotRow(
            name=str(entity["name"]),
            etag=str(entity.get("etag") or ""),
            size=as_int(entity.get("size")),
            status=AssetStatus(entity["status"]),
            reason=entity.get("reason"),
        )


async def mark_removed(
    table: AsyncTableClient, connection_id: str, names: Iterable[str], run_id: str
) -> int:
    now = datetime.now(UTC)
    rows = (
        {
            "PartitionKey": partition_key(connection_id, name),
            "RowKey": row_key(name),
            "status": AssetStatus.REMOVED.value,
            "removedAt": now,
            "lastRunId": run_id,
        }
        for name in names
    )
    return await upsert_rows(table, rows, mode=UpdateMode.MERGE)


def get_asset(table: TableClient, connection_id: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(table.get_entity(partition_key(connection_id, name), row_key(name)))
    except ResourceNotFoundError:
        return None


@dataclass(frozen=True)
class AssetsPage:
    items: list[dict[str, Any]]
    continuation_token: str | None


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("continuationToken is not valid") from None
    if (  # exactly the table's resume point: anything else would silently restart at page 1
        not isinstance(value, dict)
        or set(value) != {"PartitionKey", "RowKey"}
        or not all(isinstance(v, str) and v for v in value.values())
    ):
        raise ValueError("continuationToken is not valid")
    return value


def query_assets(
    table: TableClient,
    connection_id: str,
    *,
    status: str | None,
    reason: str | None,
    page_size: int,
    continuation_token: str | None,
) -> AssetsPage:
    """One page of a connection's rows, optionally filtered by status and reason."""
    query, params = connection_filter(connection_id)
    if status:
        query += " and status eq @status"
        params["status"] = status
    if reason:
        query += " and reason eq @reason"
        params["reason"] = reason
    pages = table.query_entities(query, parameters=params, results_per_page=page_size).by_page(
        continuation_token=_decode_token(continuation_token)
    )
    items: list[dict[str, Any]] = []
    for page in pages:
        items = [dict(e) for e in page]
        if items:  # the service may answer with an empty page and a continuation
            break
    token = getattr(pages, "continuation_token", None)
    return AssetsPage(items=items, continuation_token=_encode_token(token))
