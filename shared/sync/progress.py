"""Live progress of a run's inspection batches, reported by the activities as they go.

The orchestrator's custom status changes only when a wave of batches completes; each batch
therefore reports how many of its blobs it has handled, twice a second, in a small row of
the ``SyncRuns`` table (partition ``progress~<connection>~<run>``, one row per batch keyed by
:func:`shared.sync.model.batch_key`). The progress route adds the batches the orchestrator has
not folded into its counters yet (keys from its ``foldedThrough`` on). The rows are deleted when
the run ends. Reports are best effort: a failed write never fails or slows the batch.
"""

from __future__ import annotations

import contextlib
import logging

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

__all__ = ["PROGRESS_INTERVAL_SECONDS", "BatchReporter", "ProgressBoard"]

_log = logging.getLogger(__name__)

#: How often a running batch reports.
PROGRESS_INTERVAL_SECONDS = 0.5


class ProgressBoard:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    @staticmethod
    def partition(connection_id: str, run_id: str) -> str:
        return f"progress~{connection_id}~{run_id}"

    def reporter(self, connection_id: str, run_id: str, key: str) -> BatchReporter:
        return BatchReporter(self._table, self.partition(connection_id, run_id), key)

    def unfolded(self, connection_id: str, run_id: str, folded_through: str) -> int:
        """Blobs handled by batches from ``folded_through`` on (not yet in the counters)."""
        total = 0
        for row in self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @rk",
            parameters={"pk": self.partition(connection_id, run_id), "rk": folded_through},
            select=["processed"],
        ):
            total += int(row.get("processed") or 0)
        return total

    def delete(self, connection_id: str, run_id: str) -> None:
        pk = self.partition(connection_id, run_id)
        with contextlib.suppress(AzureError):
            for row in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey"]
            ):
                with contextlib.suppress(ResourceNotFoundError):
                    self._table.delete_entity(pk, row["RowKey"])


class BatchReporter:
    """Writes one batch's ``processed`` count; never lower than an earlier attempt's."""

    def __init__(self, table: TableClient, partition: str, key: str) -> None:
        self._table = table
        self._partition = partition
        self._key = key
        self._floor: int | None = None

    def __call__(self, processed: int) -> None:
        try:
            if self._floor is None:
                try:
                    row = self._table.get_entity(self._partition, self._key)
                    self._floor = int(row.get("processed") or 0)
                except ResourceNotFoundError:
                    self._floor = 0
            if processed <= self._floor:
                return
            self._table.upsert_entity(
                {"PartitionKey": self._partition, "RowKey": self._key, "processed": processed},
                mode=UpdateMode.REPLACE,
            )
            self._floor = processed
        except AzureError:
            _log.debug("progress report of %s skipped", self._key, exc_info=True)
