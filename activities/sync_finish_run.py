"""Activity: close a run (deletions, counts, run row, connection, staged data)."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df

from shared import names, telemetry
from shared.errors import DomainError
from shared.sync import steps
from shared.sync.failures import metadata_error
from shared.sync.model import Counters, RunStatus, empty_counters
from shared.wiring import wiring

bp = df.Blueprint()


async def _finish(payload: dict[str, Any]) -> dict[str, Any]:
    rt = wiring()
    totals: Counters = empty_counters()
    totals.update(payload["totals"])
    async with rt.assets_async() as assets_async:
        return await steps.finish_run(
            org=payload["org"],
            run_id=payload["runId"],
            connection_id=payload["connectionId"],
            status=RunStatus(payload["status"]),
            totals=totals,
            error=payload.get("error"),
            assets_async=assets_async,
            assets=rt.assets,
            connections=rt.connections,
            runs=rt.runs,
            staging=rt.staging,
            phases=payload.get("phases"),
        )


@bp.activity_trigger(input_name="payload", activity=names.FINISH_RUN_ACTIVITY)
@telemetry.traced_activity("sync.finish_run")
def sync_finish_run(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return asyncio.run(_finish(payload))
    except DomainError:
        raise
    except Exception as exc:  # the platform's own store: the orchestrator waits it out
        raise metadata_error("finishing", exc) from exc
