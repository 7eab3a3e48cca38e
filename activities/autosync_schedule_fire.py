"""Activity: a schedule is due; start an ordinary incremental run (or skip if one is active)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from shared import names
from shared.autosync import scheduling
from shared.wiring import wiring

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload", activity=names.SCHEDULE_FIRE_ACTIVITY)
@bp.durable_client_input(client_name="client")
async def autosync_schedule_fire(
    payload: dict[str, Any], client: df.DurableOrchestrationClient
) -> dict[str, Any]:
    rt = wiring()
    return await scheduling.fire(
        org=payload["org"],
        connection_id=payload["connectionId"],
        version=payload["version"],
        client=client,
        repo=rt.autosync,
        connections=rt.connections,
        runs=rt.runs,
        orgs=rt.orgs,
        settings=rt.settings,
        staging=rt.staging,
    )
