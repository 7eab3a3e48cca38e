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

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

__all__ = ["PROGRESS_INTERVAL_SECONDS", "BatchReporter", "ProgressBoard", "held_percent"]

_log = logging.getLogger(__name__)

#: How often a running batch reports.
PROGRESS_INTERVAL_SECONDS = 0.5


#: The most a running sync shows: 100 only once it completed.
RUNNING_MAX = 99.9


def held_percent(raw: float, processed: int, total: int, mark: tuple[float, int] | None) -> float:
    """The percent to show, never below ``mark`` (the highest shown so far and the blobs
    handled then). While a container is still being listed its total is an estimate that can
    grow (a preview that stopped early, blobs added since the last run, or no estimate at all):
    rather than step back, the bar then covers the work left from where it stood."""
    if mark is None or raw >= mark[0]:
        return raw
    shown, at = mark
    if total <= at:
        return shown
    ahead = max(0, processed - at) / (total - at)
    return round(min(RUNNING_MAX, max(shown, shown + (RUNNING_MAX - shown) * ahead)), 1)


class ProgressBoard:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    @staticmethod
    def partition(connection_id: str, run_id: str) -> str:
        return f"progress~{connection_id}~{run_id}"

    @staticmethod
    def _shown_key(connection_id: str, run_id: str) -> tuple[str, str]:
        return f"shown~{connection_id}~{run_id}", "percent"

    def hold(
        self, connection_id: str, run_id: str, *, raw: float, processed: int, total: int
    ) -> float:
        """:func:`held_percent` against the highest percent this run has shown, which is kept
        (ETag-guarded, so concurrent viewers never lower it). Best effort: when the table
        refuses, the raw percent is shown."""
        pk, rk = self._shown_key(connection_id, run_id)
        value = raw
        try:
            for _ in range(3):
                try:
                    row = self._table.get_entity(pk, rk)
                except ResourceNotFoundError:
                    row = None
                mark = (float(row["percent"]), int(row["processed"])) if row else None
                value = held_percent(raw, processed, total, mark)
                if mark is not None and value <= mark[0]:
                    return value
                entity = {
                    "PartitionKey": pk,
                    "RowKey": rk,
                    "percent": value,
                    "processed": processed,
                }
                try:
                    if row is None:
                        self._table.create_entity(entity)
                    else:
                        self._table.update_entity(
                            entity,
                            mode=UpdateMode.REPLACE,
                            etag=row.metadata["etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                    return value
                except (ResourceExistsError, ResourceNotFoundError):
                    continue  # another viewer wrote first: decide again from its mark
                except AzureError as exc:
                    if getattr(exc, "status_code", None) != 412:
                        raise
        except AzureError:
            _log.debug("shown percent of run %s not kept", run_id, exc_info=True)
        return value

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
            with contextlib.suppress(ResourceNotFoundError):
                self._table.delete_entity(*self._shown_key(connection_id, run_id))


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
