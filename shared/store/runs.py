"""The ``SyncRuns`` table: one row per run (PK connection id, RK run id), the authoritative
record of a run's status, counters and timestamps."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.errors import ConflictError, NotFoundError
from shared.sync.model import Counters, RunStatus, empty_counters
from shared.sync.progress import ProgressBoard

__all__ = ["RunRecord", "RunsRepository", "instance_id_for", "new_run_id"]


def new_run_id(now: datetime | None = None) -> str:
    """Readable, time-ordered run ids: ``20261124T144500Z-3fa9``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def instance_id_for(connection_id: str, run_id: str) -> str:
    """One orchestration instance per run: a finished run's status can never be mistaken for
    a new run's (the connection row's ``activeRunId`` is what keeps runs one at a time)."""
    return f"sync-{connection_id}-{run_id}"


@dataclass(frozen=True)
class RunRecord:
    connection_id: str
    run_id: str
    org: str
    status: RunStatus
    trigger: str
    instance_id: str
    counters: Counters
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error_code: str | None
    error_message: str | None
    expected_total: int | None
    etag: str | None = None
    #: Phases the run went through (recorded when it ends).
    phases: tuple[str, ...] = ()

    @property
    def error(self) -> dict[str, str] | None:
        """The run's error as the API shows it (code and customer message), or None."""
        if not self.error_code:
            return None
        return {"code": self.error_code, "message": self.error_message or ""}

    @classmethod
    def from_entity(cls, e: dict[str, Any]) -> RunRecord:
        counters = empty_counters()
        if e.get("counters"):
            counters.update(json.loads(e["counters"]))
        return cls(
            connection_id=e["PartitionKey"],
            run_id=e["RowKey"],
            org=e.get("org", ""),
            status=RunStatus(e.get("status", RunStatus.QUEUED.value)),
            trigger=e.get("trigger", "manual"),
            instance_id=e.get("instanceId", ""),
            counters=counters,
            started_at=e["startedAt"],
            updated_at=e.get("updatedAt") or e["startedAt"],
            finished_at=e.get("finishedAt"),
            error_code=e.get("errorCode") or None,
            error_message=e.get("errorMessage") or None,
            expected_total=e.get("expectedTotal"),
            etag=getattr(e, "metadata", {}).get("etag"),
            phases=tuple(json.loads(e["phases"])) if e.get("phases") else (),
        )


class RunsRepository:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def create(
        self,
        *,
        org: str,
        connection_id: str,
        run_id: str,
        instance_id: str,
        trigger: str = "manual",
        expected_total: int | None = None,
    ) -> RunRecord:
        now = datetime.now(UTC)
        entity: dict[str, Any] = {
            "PartitionKey": connection_id,
            "RowKey": run_id,
            "org": org,
            "status": RunStatus.QUEUED.value,
            "trigger": trigger,
            "instanceId": instance_id,
            "counters": json.dumps(empty_counters()),
            "startedAt": now,
            "updatedAt": now,
        }
        if expected_total is not None:
            entity["expectedTotal"] = expected_total
        self._table.create_entity(entity)
        return RunRecord.from_entity(entity)

    def progress_board(self) -> ProgressBoard:
        """Live per-batch progress rows (same table, their own partitions)."""
        return ProgressBoard(self._table)

    def get(self, connection_id: str, run_id: str) -> RunRecord:
        try:
            entity = self._table.get_entity(connection_id, run_id)
        except ResourceNotFoundError:
            raise NotFoundError(f"sync run {run_id} does not exist", code="run_not_found") from None
        return RunRecord.from_entity(dict(entity))

    def list(self, connection_id: str, limit: int = 50) -> list[RunRecord]:
        rows = [
            RunRecord.from_entity(dict(e))
            for e in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": connection_id}
            )
        ]
        rows.sort(key=lambda r: r.run_id, reverse=True)
        return rows[:limit]

    def update(
        self,
        connection_id: str,
        run_id: str,
        *,
        status: RunStatus | None = None,
        counters: Counters | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        only_if_not_terminal: bool = False,
        phases: Sequence[str] | None = None,
    ) -> bool:
        """Merge new fields into a run row; with ``only_if_not_terminal`` a finished run is
        left alone (the update is skipped and False returned)."""
        now = datetime.now(UTC)
        patch: dict[str, Any] = {"PartitionKey": connection_id, "RowKey": run_id, "updatedAt": now}
        if status is not None:
            patch["status"] = status.value
            if status.terminal:
                patch["finishedAt"] = now
        if counters is not None:
            patch["counters"] = json.dumps(counters)
        if phases is not None:
            patch["phases"] = json.dumps(list(phases))
        if error_code is not None:
            patch["errorCode"] = error_code
            patch["errorMessage"] = error_message or ""
        if not only_if_not_terminal:
            self._table.upsert_entity(patch, mode=UpdateMode.MERGE)
            return True
        for _ in range(10):
            current = self._table.get_entity(connection_id, run_id)
            if RunStatus(current.get("status", "queued")).terminal:
                return False
            try:
                self._table.update_entity(
                    patch,
                    mode=UpdateMode.MERGE,
                    etag=current.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except HttpResponseError as exc:
                if exc.status_code != 412:
                    raise
                continue  # written meanwhile (another step or close): read it again
            return True
        raise ConflictError("the run kept changing", code="run_changed")
