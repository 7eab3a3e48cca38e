"""Starting, steering and reporting sync runs (the logic behind the sync routes).

The durable client is passed in as a small protocol so this module stays free of the Functions
runtime. One run per connection at a time: the connection row's ``activeRunId`` is claimed with
ETag concurrency before the orchestration starts, and each run has an orchestration instance of
its own (``sync-<connection>-<run>``), so neither two starters nor a crashed or finished earlier
run can produce two runs, and a refused start names the run that holds the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
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
from shared.store.staging import Staging
from shared.sync.failures import customer_message
from shared.sync.model import (
    Counters,
    RunStatus,
    SyncState,
    empty_counters,
    last_sync_summary,
    percent,
)
from shared.sync.progress import ProgressBoard

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


#: The repositories block on table I/O: these async use cases run each call on a worker thread
#: so the event loop (which the Python worker shares among async functions) never waits on it.
_io = asyncio.to_thread


def _runtime_status(status: Any) -> str | None:
    if not status:  # the SDK's status object is falsy for an unknown instance
        return None
    value = getattr(status, "runtime_status", None)
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _running(run_id: str) -> ConflictError:
    return ConflictError(
        f"sync run {run_id} of this connection is still running",
        code="sync_already_running",
        extra={"runId": run_id},
        retry_after=10,
    )


#: A claimed run whose orchestration does not exist yet is being started, for this long.
START_GRACE = timedelta(seconds=60)


async def _holder_alive(
    *, client: DurableClient, runs: RunsRepository, row: Connection
) -> tuple[bool, str | None]:
    """Whether the run holding the connection is alive, and its orchestration's status.

    Each run has its own orchestration instance, so a status read here is that run's own:
    Running/Pending means it runs; missing means it is being started (within the grace period
    after its claim) or its starter crashed; Completed/Failed/Terminated means it ended without
    releasing the connection (a crash after its last step, a terminate from the portal)."""
    active = row.active_run_id
    try:
        record: RunRecord | None = await _io(runs.get, row.connection_id, active)
    except NotFoundError:
        record = None
    instance = record.instance_id if record else instance_id_for(row.connection_id, active)
    status = _runtime_status(await client.get_status(instance))
    if status in _RUNNING:
        return True, status
    if status is None:
        since = row.active_run_since or (record.started_at if record else None)
        if since is not None and datetime.now(UTC) - since < START_GRACE:
            return True, status
    return False, status


async def _close_stale(
    *,
    runs: RunsRepository,
    connections: ConnectionRepository,
    staging: Staging | None,
    row: Connection,
    status: str | None,
) -> None:
    """Close the run holding ``row`` whose orchestration is gone or ended, and free it."""
    active = row.active_run_id
    with contextlib.suppress(ResourceNotFoundError, NotFoundError):
        await _io(
            runs.update,
            row.connection_id,
            active,
            status=RunStatus.FAILED,
            error_code="run_interrupted",
            error_message=customer_message("run_interrupted"),
            only_if_not_terminal=True,
        )
    _log.warning("run %s ended as %s without finishing; closed", active, status or "missing")
    await _io(release_connection, connections, row.org_id, row.connection_id, active)
    if staging is not None:
        await _io(_delete_staged, staging, active)


def _delete_staged(staging: Staging, run_id: str) -> None:
    try:
        staging.delete_run(run_id)
    except Exception:  # cleanup is best effort; a later run's cleanup does not depend on it
        _log.warning("could not delete the staged data of run %s", run_id, exc_info=True)


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
    staging: Staging | None = None,
) -> RunRecord:
    """Claim the connection for a new run and start its orchestration.

    Correct under any interleaving of starts, cancels and finishing runs: the claim is an
    ETag-guarded write of ``activeRunId`` on a freshly read row (a lost race re-reads, so a
    start is refused only when a live run holds the connection, and the refusal names it);
    the accepted run's orchestration has an instance id of its own."""
    (await _io(orgs.require, org)).require_paid_plan()  # a downgraded org stops syncing
    run_id = new_run_id()
    for _ in range(20):
        row = await _io(connections.get, org, connection_id)
        if row.state is ConnectionState.DELETING:
            raise ConflictError("this connection is being deleted", code="connection_deleting")
        if row.active_run_id:
            alive, status = await _holder_alive(client=client, runs=runs, row=row)
            if alive:
                raise _running(row.active_run_id)
            await _close_stale(
                runs=runs, connections=connections, staging=staging, row=row, status=status
            )
            continue
        try:
            await _io(connections.claim_run, row, run_id)
            break
        except ConflictError:
            continue  # another writer changed the row first: read it again
    else:
        raise ConflictError(
            "the connection kept changing; try again in a moment",
            code="connection_changed",
            retry_after=2,
        )
    instance_id = instance_id_for(connection_id, run_id)
    try:
        record = await _io(
            runs.create,
            org=org,
            connection_id=connection_id,
            run_id=run_id,
            instance_id=instance_id,
            trigger=trigger,
            expected_total=row.last_preview_total,
        )
    except Exception:
        await _io(release_connection, connections, org, connection_id, run_id)
        raise
    state = SyncState(
        runId=run_id,
        org=org,
        connectionId=connection_id,
        generation=0,
        pendingPage=None,
        totals=empty_counters(),
        pageSize=settings.sync_page_size,
        listWidth=settings.sync_list_width,
        batchSize=settings.sync_batch_size,
        pagesPerExecution=settings.sync_pages_per_execution,
        batchesInFlight=settings.sync_batches_in_flight,
        outageLimitSeconds=settings.sync_outage_limit_seconds,
        outageRetrySeconds=settings.sync_outage_first_delay_seconds,
    )
    try:
        await client.start_new(names.SYNC_RUN_ORCHESTRATOR, instance_id, state)
    except Exception:
        await _io(
            runs.update,
            connection_id,
            run_id,
            status=RunStatus.FAILED,
            error_code="start_failed",
            error_message=customer_message("start_failed"),
        )
        await _io(release_connection, connections, org, connection_id, run_id)
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
    staging: Staging | None = None,
) -> RunRecord:
    record = await _io(runs.get, connection_id, run_id)
    if record.org != org:
        raise NotFoundError(f"sync run {run_id} does not exist", code="run_not_found")
    if record.status.terminal:
        raise ConflictError(
            f"sync run {run_id} already ended as {record.status.value}", code="sync_not_running"
        )
    instance = record.instance_id or instance_id_for(connection_id, run_id)
    live = await client.get_status(instance)
    counters = _live_counters(live, record.counters, run_id)
    # The record first: a start racing this cancel then sees a cancelled run, never one to
    # close as interrupted, and a finishing run keeps "cancelled" (its close skips a closed run).
    closed = await _io(
        runs.update,
        connection_id,
        run_id,
        status=RunStatus.CANCELLED,
        counters=counters,
        only_if_not_terminal=True,
    )
    if not closed:  # the run finished on its own just before: its own record stands
        return await _io(runs.get, connection_id, run_id)
    if _runtime_status(live) in _RUNNING:
        await client.terminate(instance, f"cancelled by the user (run {run_id})")
        await _wait_until_stopped(client, instance)
    await _io(
        release_connection,
        connections,
        org,
        connection_id,
        run_id,
        extra={"lastSync": json.dumps(last_sync_summary(run_id, RunStatus.CANCELLED, counters))},
    )
    if staging is not None:
        await _io(_delete_staged, staging, run_id)
    await _io(runs.progress_board().delete, connection_id, run_id)
    return await _io(runs.get, connection_id, run_id)


async def _wait_until_stopped(client: DurableClient, instance: str, within: float = 10) -> None:
    """Termination is asynchronous; wait (bounded) so the run's last writes land first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if _runtime_status(await client.get_status(instance)) not in _RUNNING:
            return
        await asyncio.sleep(0.1)
    _log.warning("instance %s still stopping after %.0fs", instance, within)


def _custom(live: Any, run_id: str) -> dict[str, Any]:
    """The orchestration's custom status if it belongs to ``run_id`` ({} otherwise)."""
    custom = getattr(live, "custom_status", None) if live else None
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except ValueError:
            custom = None
    if isinstance(custom, dict) and custom.get("runId") == run_id:
        return custom
    return {}


def _live_counters(live: Any, fallback: Counters, run_id: str) -> Counters:
    custom = _custom(live, run_id)
    if "counters" in custom:
        counters = empty_counters()
        counters.update(custom["counters"])
        return counters
    return fallback


def _summary_text(done: bool, assets: int, counts: Counters, processed: int, total: int) -> str:
    if not done:
        return f"{processed:,} of {total:,} files checked"
    noun = "asset" if assets == 1 else "assets"
    changes = (
        (counts["added"], "added"),
        (counts["updated"], "updated"),
        (counts["removed"], "removed"),
        (counts["skipped"], "skipped"),
        (counts["failed"], "unreadable"),
    )
    parts = [f"{n:,} {label}" for n, label in changes if n]
    return f"{assets:,} {noun}, " + (", ".join(parts) if parts else "nothing changed")


async def progress_view(
    *,
    connection: Connection,
    record: RunRecord,
    client: DurableClient | None,
    progress: ProgressBoard | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The run as the frontend shows it: live counters while running (the orchestration's
    counters plus what running batches have reported), the record afterwards."""
    status = record.status
    counters = record.counters
    listing_complete = status.terminal
    custom: dict[str, Any] = {}
    in_flight = 0
    if not status.terminal and client is not None:
        live = await client.get_status(record.instance_id)
        custom = _custom(live, record.run_id)
        counters = _live_counters(live, counters, record.run_id)
        listing_complete = bool(custom.get("listingComplete"))
        with contextlib.suppress(ValueError):
            status = RunStatus(custom.get("phase", status.value))
        runtime = _runtime_status(live)
        if runtime in ("Failed", "Terminated") and not status.terminal:
            status = RunStatus.FAILED
        folded = custom.get("foldedThrough")
        if progress is not None and folded and status is RunStatus.INSPECTING:
            in_flight = await _io(
                progress.unfolded, record.connection_id, record.run_id, str(folded)
            )
    done = status.terminal
    listed = counters["listed"]
    processed = counters["processed"] + in_flight
    stored = connection.asset_counts
    estimate = not (done or listing_complete)
    total = listed
    basis = 0  # what the percent is of, when it differs from the total shown
    if estimate:  # the last preview's count, or what the last run saw, until listing ends
        known = max(record.expected_total or 0, stored.synced + stored.skipped + stored.ignored)
        total = max(listed, known)
        if listed >= known:  # listed past every estimate: as much again is assumed to follow
            basis = 2 * listed
    total = max(total, processed)
    asset_count = stored.synced
    if not done:
        asset_count += counters["added"]
    now = now or datetime.now(UTC)
    end = record.finished_at if done and record.finished_at else now
    elapsed = max(0.0, (end - record.started_at).total_seconds())
    rate = processed / elapsed if elapsed > 0 else 0.0
    eta = None
    if not done and rate > 0:
        eta = round((total - processed) / rate)
    phases = custom.get("phases") if custom else list(record.phases)
    if not isinstance(phases, list):
        phases = []
    if not phases and status is not RunStatus.QUEUED:
        phases = [status.value]
    if done and status.value not in phases:
        phases = [*phases, status.value]
    shown = percent(processed, max(total, basis), done=status is RunStatus.COMPLETED)
    if progress is not None and not done:  # a total that grew never moves the bar back
        shown = await _io(
            progress.hold,
            record.connection_id,
            record.run_id,
            raw=shown,
            processed=processed,
            total=total,
        )
    waiting = custom.get("waiting") if isinstance(custom.get("waiting"), dict) else None
    changed = processed - counters["unchanged"] + counters["removed"]
    return {
        "runId": record.run_id,
        "connectionId": record.connection_id,
        "connectionName": connection.name,
        "status": status.value,
        "phases": [str(p) for p in phases],
        "trigger": record.trigger,
        "provider": "azure_blob",
        "account": connection.account,
        "container": connection.container,
        "prefix": connection.prefix,
        "assetCount": asset_count,
        "connectionTotals": stored.to_json(),
        "changed": max(0, changed),
        "summary": _summary_text(done, asset_count, counters, processed, total),
        "listed": listed,
        "processed": processed,
        "total": total,
        "totalIsEstimate": estimate,
        "percent": shown,
        "ratePerSecond": round(rate, 1),
        "etaSeconds": eta,
        "waiting": waiting,
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
        "error": record.error,
    }
