"""The scheduler orchestration: one eternal instance per connection with a schedule.

Deterministic: the next due time comes from the input's schedule and ``current_utc_datetime``;
a durable timer waits for it; the fire activity starts (or skips) a run; ``continue_as_new``
keeps the history to one cycle.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.autosync.schedule import Schedule

bp = df.Blueprint()


def scheduler_steps(context: Any) -> Generator[Any, Any, Any]:
    state: dict[str, Any] = context.get_input()
    if state.get("due"):
        outcome = yield context.call_activity(
            names.SCHEDULE_FIRE_ACTIVITY,
            {
                "org": state["org"],
                "connectionId": state["connectionId"],
                "version": state["setAt"],
                "due": state["due"],
            },
        )
        if outcome.get("stop"):
            return outcome
    now: datetime = context.current_utc_datetime
    aware = now.tzinfo is not None
    set_at = datetime.fromisoformat(state["setAt"]) if state.get("setAt") else None
    schedule = Schedule.from_json(state["schedule"], set_at)
    due = schedule.next_due(now if aware else now.replace(tzinfo=UTC))
    if due is None:
        return {"stop": True, "outcome": "off"}
    context.set_custom_status({"nextDue": due.isoformat()})
    yield context.create_timer(due if aware else due.astimezone(UTC).replace(tzinfo=None))
    context.continue_as_new({**state, "due": due.isoformat()})
    return None


@bp.orchestration_trigger(context_name="context", orchestration=names.SCHEDULER_ORCHESTRATOR)
def autosync_scheduler(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield from scheduler_steps(context))
