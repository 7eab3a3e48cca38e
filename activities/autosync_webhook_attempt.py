"""Activity: one delivery attempt of a run's webhook."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.autosync import webhooks
from shared.errors import NotFoundError
from shared.wiring import wiring

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload", activity=names.WEBHOOK_ATTEMPT_ACTIVITY)
async def autosync_webhook_attempt(payload: dict[str, Any]) -> dict[str, Any]:
    rt = wiring()
    org, connection_id, run_id = payload["org"], payload["connectionId"], payload["runId"]
    config = await asyncio.to_thread(rt.autosync.get, org, connection_id)
    if not config.webhook_url:
        return {"done": True, "status": None, "outcome": "no_webhook"}
    try:
        connection = await asyncio.to_thread(rt.connections.get, org, connection_id)
        record = await asyncio.to_thread(rt.runs.get, connection_id, run_id)
    except NotFoundError:
        return {"done": True, "status": None, "outcome": "gone"}
    return await webhooks.attempt_delivery(
        url=config.webhook_url,
        secret=config.webhook_secret,
        payload=webhooks.run_payload(connection, record),
        attempt=int(payload["attempt"]),
        max_attempts=int(payload["maxAttempts"]),
        repo=rt.autosync,
    )
