"""After a cancelled run (the sync orchestration was terminated, so its last step never ran):
the same run-end activity — queued blob events, the webhook."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from shared import names

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=names.AFTER_RUN_ORCHESTRATOR)
def autosync_after_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield context.call_activity(names.RUN_ENDED_ACTIVITY, context.get_input()))
