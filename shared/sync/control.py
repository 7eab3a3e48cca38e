"""Starting, steering and reporting sync runs (the logic behind the sync routes).

The durable client is passed in as a small protocol so this module stays free of the Functions
runtime. One run per connection at a time: the connection row's ``activeRunId`` is claimed with
ETag concurrency before the orchestration starts, and the orchestration's instance id is derived
from the connection, so neither two starters nor a crashed earlier run can produce two runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Protocol

from azure.core.exceptions import ResourceNotFoundError

from shared import names
from shared.errors import ConflictError, NotFoundError
from shared.settings import Settings
from shared.store import (
    Connection,
    ConnectionRepository,
    ConnectionState,
    OrganizationRepository,
)
from shared.store.connections import release_connection
from shared.store.runs import RunRecord, RunsRepository, instance_id_for, new_run_id
from shared.sync.model import (
    Counters,
    RunStatus,
    SyncState,
    empty_counters,
    last_sync_summary,
    percent,
)

__all__ = [
    "DurableClient",
    "cancel_sync",
    "progress_view",
    "start_sync",
]

_log = logging.getLogger(__name__)

_RUNNING = {"Running", "Pending", "ContinuedAsNew", "Suspended"}


class DurableClient(Protocol):
    async def get_status(self, instance_id: str) -> Any: ...
    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> str: ...
    async def terminate(self, instance_id: str, reason: str) -> None: ...


def _runtime_status(status: Any) -> str | None:
    if not status:  # the SDK's status object is falsy for an unknown instance
        return None
    value = getattr(status, "runtime_status", None)
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _claim(connections: ConnectionRepository, row: Connection, run_id: str) -> None:
    try:
        connections.merge(row, {"activeRunId": run_id})
    except ConflictError:
        raise ConflictError(
            "another sync of this connection was started at the same moment",
            code="sync_already_running",
            retry_after=5,
        ) from None


async def _reconcile_stale(
    *,
    client: DurableClient,
    runs: RunsRepository,
    connections: ConnectionRepository,
    row: Connection,
) -> Connection:
    """If the connection names an active run whose orchestration is gone or finished (a crash,
    a terminate from the portal), close that run as failed and free the connection."""
    active = row.active_run_id
    if not active:
        return row
    status = _runtime_status(await client.get_status(instance_id_for(row.connection_id)))
    if status in _RUNNING:
        raise ConflictError(
            f"sync run {active} of this connection is still running",
            code="sync_already_running",
            extra={"runId": active},
            retry_after=10,
        )
    with contextlib.suppress(ResourceNotFoundError):
        runs.update(
            row.connection_id,
            active,
            status=RunStatus.FAILED,
            error_code="run_interrupted",
            error_message=f"the orchestration ended as {status or 'missing'} without finishing",
            only_if_not_terminal=True,
        )
    release_connection(connections, row.org_id, row.connection_id, active)
    return connections.get(row.org_id, row.connection_id)


async def start_sync(
    *,
    org: str,
    connection_id: str,
    client: DurableClient,
    connections: ConnectionRepository,
    runs: RunsRepository,
    orgs: OrganizationRepository,
    settings: Settings,
    trigger: str = "manual",
) -> RunRecord:
    orgs.require(org).require_paid_plan()  # a downgraded organisation stops syncing
    row = connections.get(org, connection_id)
    if row.state is ConnectionState.DELETING:
        raise ConflictError("this connection is being deleted", code="connection_deleting")
    row = await _reconcile_stale(client=client, runs=runs, connections=connections, row=row)
    instance = instance_id_for(connection_id)
    if _runtime_status(await client.get_status(instance)) in _RUNNING:
        # No run holds the connection: the last run closed and its orchestration is only
        # finishing its final episode (or winding down after a cancel). Give it a moment.
        await _wait_until_stopped(client, instance, within=5)
    if _runtime_status(await client.get_status(instance)) in _RUNNING:
        raise ConflictError(
            "the previous run of this connection is still stopping; try again in a moment",
            code="sync_already_running",
            retry_after=2,
        )
    run_id = new_run_id()
    _claim(connections, row, run_id)
    instance_id = instance
    expected = row.last_preview_total
    record = runs.create(
        org=org,
        connection_id=connection_id,
        run_id=run_id,
        instance_id=instance_id,
        trigger=trigger,
        expected_total=expected,
    )
    state = SyncState(
        runId=run_id,
        org=org,
        connectionId=connection_id,
        generation=0,
        phase="start",
        pendingPage=None,
        totals=empty_counters(),
        pageSize=settings.sync_page_size,
        batchSize=settings.sync_batch_size,
        pagesPerExecution=settings.sync_pages_per_execution,
        batchesInFlight=settings.sync_batches_in_flight,
    )
    try:
        await client.start_new(names.SYNC_RUN_ORCHESTRATOR, instance_id, state)
    except Exception:
        runs.update(
            connection_id,
            run_id,
            status=RunStatus.FAILED,
            error_code="start_failed",
            error_message="the orchestration could not be started",
        )
        release_connection(connections, org, connection_id, run_id)
        raise
    return record


async def cancel_sync(
    *,
    org: str,
    connection_id: str,
    run_id: str,
    client: DurableClient,
    connections: ConnectionRepository,
    runs: RunsRepository,
) -> RunRecord:
    record = runs.get(connection_id, run_id)
    if record.org != org:
        raise NotFoundError(f"sync run {run_id} does not exist", code="run_not_found")
    if record.status.terminal:
        raise ConflictError(
            f"sync run {run_id} already ended as {record.status.value}", code="sync_not_running"
        )
    instance = instance_id_for(connection_id)
    live = await client.get_status(instance)
    counters = _live_counters(live, record.counters, run_id)
    if _runtime_status(live) in _RUNNING:
        await client.terminate(instance, f"cancelled by the user (run {run_id})")
        await _wait_until_stopped(client, instance)
    runs.update(connection_id, run_id, status=RunStatus.CANCELLED, counters=counters)
    release_connection(
        connections,
        org,
        connection_id,
        run_id,
        extra={"lastSync": json.dumps(last_sync_summary(run_id, RunStatus.CANCELLED, counters))},
    )
    return runs.get(connection_id, run_id)


async def _wait_until_stopped(client: DurableClient, instance: str, within: float = 10) -> None:
    """Termination is asynchronous; wait (bounded) so a new start right after a cancel works."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if _runtime_status(await client.get_status(instance)) not in _RUNNING:
            return
        await asyncio.sleep(0.1)
    _log.warning("instance %s still stopping after %.0fs", instance, within)


def _live_counters(live: Any, fallback: Counters, run_id: str) -> Counters:
    custom = getattr(live, "custom_status", None) if live else None
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except ValueError:
            custom = None
    if isinstance(custom, dict) and custom.get("runId") == run_id and "counters" in custom:
        counters = empty_counters()
        counters.update(custom["counters"])
        return counters
    return fallback


def _live_phase(live: Any, run_id: str) -> tuple[RunStatus | None, bool]:
    custom = getattr(live, "custom_status", None) if live else None
    if isinstance(custom, dict) and custom.get("runId") == run_id:
        try:
            return RunStatus(custom.get("phase")), bool(custom.get("listingComplete"))
        except ValueError:
            return None, False
    return None, False


async def progress_view(
    *,
    connection: Connection,
    record: RunRecord,
    client: DurableClient | None,
) -> dict[str, Any]:
    """The run as the frontend shows it: live counters while running, the record afterwards."""
    status = record.status
    counters = record.counters
    listing_complete = status.terminal
    if not status.terminal and client is not None:
        live = await client.get_status(record.instance_id)
        counters = _live_counters(live, counters, record.run_id)
        phase, listing_complete = _live_phase(live, record.run_id)
        runtime = _runtime_status(live)
        if phase is not None:
            status = phase
        if runtime in ("Failed", "Terminated") and not status.terminal:
            status = RunStatus.FAILED
    done = status.terminal
    listed = counters["listed"]
    total = listed
    estimate = not (done or listing_complete)
    if estimate and record.expected_total:
        total = max(listed, record.expected_total)
    processed = counters["processed"]
    asset_count = connection.asset_counts.synced
    if not done:
        asset_count += counters["added"]
    return {
        "runId": record.run_id,
        "connectionId": record.connection_id,
        "connectionName": connection.name,
        "status": status.value,
        "trigger": record.trigger,
        "provider": "azure_blob",
        "account": connection.account,
        "container": connection.container,
        "prefix": connection.prefix,
        "assetCount": asset_count,
        "processed": processed,
        "total": total,
        "totalIsEstimate": estimate,
        "percent": percent(processed, total, done=status is RunStatus.COMPLETED),
        "counts": {
            "synced": counters["synced"],
            "added": counters["added"],
            "updated": counters["updated"],
            "skipped": counters["skipped"],
            "skippedByReason": counters["skippedByReason"],
            "ignored": counters["ignored"],
            "removed": counters["removed"],
            "unchanged": counters["unchanged"],
            "failed": counters["failed"],
        },
        "bytesRead": counters["bytesRead"],
        "readRequests": counters["requests"],
        "dataRowsCharged": counters["dataRows"],
        "startedAt": record.started_at.isoformat(),
        "updatedAt": record.updated_at.isoformat(),
        "finishedAt": record.finished_at.isoformat() if record.finished_at else None,
        "error": (
            {"code": record.error_code, "message": record.error_message or ""}
            if record.error_code
            else None
        ),
    }
