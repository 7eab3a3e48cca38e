"""The sync orchestrator: pages of the listing fanned out to inspection activities.

Deterministic: no I/O, clock or environment here; tuning values come from the input. Each
execution handles a few pages and then continues as new with cumulative counters, so history
stays bounded whatever the container's size. The next page is listed while the current one is
inspected. Only counters and references cross the durable boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.sync.failures import code_of
from shared.sync.model import (
    Counters,
    ListedPage,
    RunStatus,
    SyncState,
    add_batch,
    add_page,
)
from shared.sync.plan import slices, waves
from shared.telemetry import trace_fields

bp = df.Blueprint()
_log = logging.getLogger(__name__)


def _status(
    state: SyncState, phase: RunStatus, totals: Counters, listing_complete: bool = False
) -> dict[str, Any]:
    return {
        "runId": state["runId"],
        "phase": phase.value,
        "listingComplete": listing_complete,
        "counters": totals,
    }


def _list_input(state: SyncState, index: int, cursor: str | None) -> dict[str, Any]:
    return {
        "runId": state["runId"],
        "org": state["org"],
        "connectionId": state["connectionId"],
        "index": index,
        "cursor": cursor,
        "pageSize": state["pageSize"],
        **trace_fields(state),
    }


def sync_run_steps(context: Any) -> Generator[Any, Any, Any]:
    state: SyncState = context.get_input()
    totals = state["totals"]
    common = {"runId": state["runId"], "org": state["org"], "connectionId": state["connectionId"]}
    common.update(trace_fields(state))
    try:
        page: ListedPage | None = state["pendingPage"]
        if state["phase"] == "start":
            context.set_custom_status(_status(state, RunStatus.LISTING, totals))
            page = yield context.call_activity(
                names.LIST_PAGE_ACTIVITY, _list_input(state, 0, None)
            )
            assert page is not None
            totals = add_page(totals, page)
        assert page is not None
        for _ in range(state["pagesPerExecution"]):
            complete = page["nextCursor"] is None
            context.set_custom_status(_status(state, RunStatus.INSPECTING, totals, complete))
            work = slices(page["ref"], page["changed"], state["batchSize"])
            next_page: ListedPage | None = None
            for number, wave in enumerate(waves(work, state["batchesInFlight"])):
                tasks = [
                    context.call_activity(names.INSPECT_BATCH_ACTIVITY, {**common, **s})
                    for s in wave
                ]
                if number == 0 and page["nextCursor"]:
                    tasks.append(
                        context.call_activity(
                            names.LIST_PAGE_ACTIVITY,
                            _list_input(state, page["index"] + 1, page["nextCursor"]),
                        )
                    )
                if not tasks:  # nothing changed on the last page
                    break
                results = yield context.task_all(tasks)
                if number == 0 and page["nextCursor"]:
                    next_page = results.pop()
                    totals = add_page(totals, next_page)
                    complete = next_page["nextCursor"] is None
                for batch in results:
                    totals = add_batch(totals, batch)
                context.set_custom_status(_status(state, RunStatus.INSPECTING, totals, complete))
            if next_page is None:
                break
            page = next_page
        else:
            context.continue_as_new(
                {
                    **state,
                    "generation": state["generation"] + 1,
                    "phase": "pages",
                    "pendingPage": page,
                    "totals": totals,
                }
            )
            return None
        context.set_custom_status(_status(state, RunStatus.FINALIZING, totals, True))
        summary = yield context.call_activity(
            names.FINISH_RUN_ACTIVITY,
            {**common, "status": RunStatus.COMPLETED.value, "totals": totals, "error": None},
        )
        yield context.call_activity(
            names.RUN_ENDED_ACTIVITY, common
        )  # auto-sync: re-checks, webhook
        context.set_custom_status(_status(state, RunStatus.COMPLETED, summary["totals"], True))
        return summary
    except Exception as exc:  # an activity failed after its own retries: fail the run clearly
        message = str(exc).split("\n", 1)[0][:500]
        code = code_of(message)
        if not context.is_replaying:
            _log.warning("sync run %s failed: %s", state["runId"], message)
        summary = yield context.call_activity(
            names.FINISH_RUN_ACTIVITY,
            {
                **common,
                "status": RunStatus.FAILED.value,
                "totals": totals,
                "error": {"code": code, "message": message},
            },
        )
        yield context.call_activity(
            names.RUN_ENDED_ACTIVITY, common
        )  # auto-sync: re-checks, webhook
        context.set_custom_status(_status(state, RunStatus.FAILED, summary["totals"]))
        return summary


@bp.orchestration_trigger(context_name="context", orchestration=names.SYNC_RUN_ORCHESTRATOR)
def sync_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield from sync_run_steps(context))
