"""Activity: a run ended. Recount a cancelled run's assets, apply the blob events queued
during it, start the webhook delivery.
Never raises: the run is already closed, and nothing here may fail it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.autosync import after_run, events
from shared.store import month_of
from shared.sync import steps
from shared.sync.inspector import inspect_entry
from shared.wiring import wiring

bp = df.Blueprint()
_log = logging.getLogger(__name__)


@bp.activity_trigger(input_name="payload", activity=names.RUN_ENDED_ACTIVITY)
@bp.durable_client_input(client_name="client")
async def autosync_run_ended(
    payload: dict[str, Any], client: df.DurableOrchestrationClient
) -> dict[str, Any]:
    rt = wiring()
    org_id, connection_id, run_id = payload["org"], payload["connectionId"], payload["runId"]
    out: dict[str, Any] = {"applied": 0, "webhook": False}
    if payload.get("cancelled"):  # its finish step never ran: count what it synced
        try:
            await asyncio.to_thread(
                steps.recount_assets,
                org_id,
                connection_id,
                assets=rt.assets,
                connections=rt.connections,
            )
        except Exception as exc:  # the next run's finish counts them again
            _log.warning("asset counts after run %s: %s", run_id, type(exc).__name__)
    try:
        connection = await asyncio.to_thread(rt.connections.get, org_id, connection_id)
        limit = (await asyncio.to_thread(rt.orgs.require, org_id)).monthly_quota
        month = month_of()

        def charge(*, key: str, costs: Sequence[int]) -> int:
            return rt.usage.charge(org_id, month, key=key, costs=costs, limit=limit)

        async with (
            rt.storage.container_client(connection.account, connection.container) as cc,
            rt.assets_async() as assets,
        ):
            out["applied"] = await events.apply_queued(
                org=org_id,
                connection_id=connection_id,
                repo=rt.autosync,
                connections=rt.connections,
                container=cc,
                assets=assets,
                inspector=inspect_entry,
                charge=charge,
                rows_per_kind=rt.rows_per_kind,
            )
    except Exception as exc:  # the events stay queued for the next delivery or run end
        _log.warning("queued events after run %s failed: %s", run_id, type(exc).__name__)
    try:
        out["webhook"] = await after_run.start_webhook(
            org=org_id,
            connection_id=connection_id,
            run_id=run_id,
            client=client,
            repo=rt.autosync,
            settings=rt.settings,
        )
    except Exception as exc:
        _log.warning("webhook of run %s not started: %s", run_id, type(exc).__name__)
    return out
