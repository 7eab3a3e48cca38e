"""Activity: snapshot the connection's stored rows for change and deletion detection."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from shared import names
from shared.sync import engine
from shared.sync.model import RunStatus
from shared.sync.runtime import runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload", activity=names.PREPARE_RUN_ACTIVITY)
def sync_prepare_run(payload: dict[str, Any]) -> dict[str, int]:
    rt = runtime()
    rt.runs.update(
        payload["connectionId"],
        payload["runId"],
        status=RunStatus.LISTING,
        only_if_not_terminal=True,
    )
    return engine.prepare_run(
        run_id=payload["runId"],
        connection_id=payload["connectionId"],
        assets=rt.assets,
        staging=rt.staging,
    )
