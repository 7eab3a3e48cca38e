"""Removing what a connection left in the metadata store: its asset rows (``Assets``, the
connection's hash-bucket partitions ``asset_keys.partitions_of``) and its run rows
(``SyncRuns``, PK = connection id). Deletes go in entity-group transactions of at most 100
entities of one partition; re-running after a crash finishes the job (idempotent)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.data.tables import TableClient, TableTransactionError

from shared.asset_keys import partitions_of
from shared.store._common import table_batches

__all__ = ["DeletedRows", "delete_connection_rows", "delete_partition"]


@dataclass(frozen=True)
class DeletedRows:
    assets: int
    runs: int


def _keys(table: TableClient, partition: str) -> Iterator[dict[str, Any]]:
    for entity in table.query_entities(
        "PartitionKey eq @pk",
        parameters={"pk": partition},
        select=["PartitionKey", "RowKey"],
        results_per_page=1000,
    ):
        yield {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"]}


def delete_partition(table: TableClient, partition: str) -> int:
    """Delete every row of one partition (idempotent); returns how many there were."""
    # Collect the keys first: deleting while paging a query can skip rows.
    keys = list(_keys(table, partition))
    for chunk in table_batches(keys):
        try:
            table.submit_transaction([("delete", row) for row in chunk])
        except TableTransactionError as exc:
            if exc.status_code != 404:
                raise
            for row in chunk:  # someone deleted part of it meanwhile: go one by one
                table.delete_entity(row["PartitionKey"], row["RowKey"])
    return len(keys)


def delete_connection_rows(
    *, assets: TableClient, runs: TableClient, connection_id: str
) -> DeletedRows:
    """Delete every asset row and run row of ``connection_id``; returns how many there were."""
    deleted_assets = sum(delete_partition(assets, pk) for pk in partitions_of(connection_id))
    deleted_runs = delete_partition(runs, connection_id)
    return DeletedRows(deleted_assets, deleted_runs)
