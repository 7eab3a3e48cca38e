"""Delivers one run's webhook: attempts with doubling backoff on durable timers."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared import names

bp = df.Blueprint()


def delivery_steps(context: Any) -> Generator[Any, Any, Any]:
    job: dict[str, Any] = context.get_input()
    attempts = int(job["maxAttempts"])
    result: dict[str, Any] = {}
    for attempt in range(1, attempts + 1):
        result = yield context.call_activity(
            names.WEBHOOK_ATTEMPT_ACTIVITY, {**job, "attempt": attempt}
        )
        if result.get("done"):
            return result
        delay = int(job["baseSeconds"]) * 2 ** (attempt - 1)
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
    return result


@bp.orchestration_trigger(context_name="context", orchestration=names.WEBHOOK_ORCHESTRATOR)
def autosync_webhook_delivery(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield from delivery_steps(context))
