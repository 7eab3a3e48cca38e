"""Scheduled runs: one eternal scheduler orchestration per connection with a schedule.

The orchestration (``orchestrators/scheduler.py``) sleeps on a durable timer until the next due
time computed from its input and ``current_utc_datetime``, asks :func:`fire` to start an
ordinary incremental run through the same start path as the manual route, and continues as
new. A run still active at a due time means that occurrence is skipped: runs never queue up.
Changing the schedule terminates the scheduler and starts a fresh one; :func:`fire` also checks
the schedule's version, so a scheduler that outlived its schedule stops by itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shared import names
from shared.autosync.schedule import Schedule
from shared.autosync.store import AutosyncRepository
from shared.errors import ConflictError, DomainError, NotFoundError
from shared.settings import Settings
from shared.store import ConnectionRepository, OrganizationRepository
from shared.store.runs import RunsRepository
from shared.store.staging import Staging
from shared.sync import control

__all__ = ["apply_schedule", "fire", "scheduler_input", "scheduler_instance"]

_log = logging.getLogger(__name__)

_RUNNING = {"Running", "Pending", "ContinuedAsNew", "Suspended"}


def scheduler_instance(connection_id: str) -> str:
    return f"schedule-{connection_id}"


def scheduler_input(org: str, connection_id: str, schedule: Schedule) -> dict[str, Any]:
    return {
        "org": org,
        "connectionId": connection_id,
        "schedule": schedule.to_json(),
        "setAt": schedule.version,
        "due": None,
    }


def _runtime(status: Any) -> str | None:
    if not status:
        return None
    value = getattr(status, "runtime_status", None)
    return None if value is None else str(getattr(value, "value", value))


async def apply_schedule(
    *,
    org: str,
    connection_id: str,
    schedule: Schedule,
    client: control.DurableClient,
    repo: AutosyncRepository,
) -> None:
    """Store the schedule and (re)start or stop the connection's scheduler."""
    await asyncio.to_thread(repo.set_schedule, org, connection_id, schedule)
    instance = scheduler_instance(connection_id)
    if _runtime(await client.get_status(instance)) in _RUNNING:
        await client.terminate(instance, "the schedule changed")
        for _ in range(100):
            if _runtime(await client.get_status(instance)) not in _RUNNING:
                break
            await asyncio.sleep(0.1)
    if schedule.enabled:
        await client.start_new(
            names.SCHEDULER_ORCHESTRATOR,
            instance,
            scheduler_input(org, connection_id, schedule),
        )


async def fire(
    *,
    org: str,
    connection_id: str,
    version: str,
    client: control.DurableClient,
    repo: AutosyncRepository,
    connections: ConnectionRepository,
    runs: RunsRepository,
    orgs: OrganizationRepository,
    settings: Settings,
    staging: Staging | None = None,
) -> dict[str, Any]:
    """Start a scheduled run if the schedule still holds; skip the occurrence if a run is active."""
    config = await asyncio.to_thread(repo.get, org, connection_id)
    if not config.schedule.enabled or config.schedule.version != version:
        return {"stop": True, "outcome": "schedule_changed"}
    try:
        record = await control.start_sync(
            org=org,
            connection_id=connection_id,
            client=client,
            connections=connections,
            runs=runs,
            orgs=orgs,
            settings=settings,
            trigger="schedule",
            staging=staging,
        )
    except NotFoundError:
        return {"stop": True, "outcome": "connection_gone"}
    except ConflictError as err:
        _log.info("scheduled run of %s skipped: %s", connection_id, err.code)
        return {"stop": False, "outcome": "skipped", "code": err.code}
    except DomainError as err:  # e.g. the organisation left the paid plan: try next time
        return {"stop": False, "outcome": "refused", "code": err.code}
    return {"stop": False, "outcome": "started", "runId": record.run_id}
