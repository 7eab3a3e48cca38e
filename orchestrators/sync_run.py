"""The sync orchestrator: pages of the listing fanned out to inspection activities.

Deterministic: no I/O, clock or environment here; tuning values come from the input. Each
execution handles a few pages and then continues as new with cumulative counters, so history
stays bounded whatever the container's size. The next page is listed while the current one is
inspected. Only counters and references cross the durable boundary.

Outages are waited out: a step that fails because the customer's storage is unreachable or
throttling, or because the metadata store is unavailable, runs again after a durable timer with
growing backoff (the custom status says it is waiting, why, and when it retries), and the run
fails only after ``outageLimitSeconds`` of continuous failure. Any other failure ends the run
at once with a stable code and a message written for the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.sync.failures import TRANSIENT_CODES, code_of, customer_message, step_of
from shared.sync.model import (
    ListedPage,
    RunStatus,
    SyncState,
    add_batch,
    add_page,
    batch_key,
)
from shared.sync.plan import Slice, slices, waves
from shared.telemetry import trace_fields

bp = df.Blueprint()
_log = logging.getLogger(__name__)

#: Longest wait between two attempts of a failing step.
MAX_RETRY_DELAY_SECONDS = 60


class RunFailure(Exception):
    """A step failed for good: ``code``, the step, and how long it had been failing."""

    def __init__(self, code: str, step: str | None, waited: float) -> None:
        super().__init__(code)
        self.code = code
        self.step = step
        self.waited = waited


def _list_input(state: SyncState, index: int, cursor: Any) -> dict[str, Any]:
    return {
        "runId": state["runId"],
        "org": state["org"],
        "connectionId": state["connectionId"],
        "index": index,
        "cursor": cursor,
        "pageSize": state["pageSize"],
        "width": state.get("listWidth", 1),
        **trace_fields(state),
    }


def _iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


def sync_run_steps(context: Any) -> Generator[Any, Any, Any]:
    state: SyncState = context.get_input()
    totals = state["totals"]
    phases: list[str] = list(state.get("phases", []))
    common = {"runId": state["runId"], "org": state["org"], "connectionId": state["connectionId"]}
    common.update(trace_fields(state))
    shown: dict[str, Any] = {"phase": RunStatus.LISTING, "complete": False, "folded": ""}

    def show(
        phase: RunStatus | None = None,
        *,
        complete: bool | None = None,
        folded: str | None = None,
        waiting: dict[str, Any] | None = None,
    ) -> None:
        if phase is not None:
            shown["phase"] = phase
            if phase.value not in phases:
                phases.append(phase.value)
        if complete is not None:
            shown["complete"] = complete
        if folded is not None:
            shown["folded"] = folded
        status: dict[str, Any] = {
            "runId": state["runId"],
            "phase": shown["phase"].value,
            "phases": phases,
            "listingComplete": shown["complete"],
            # Inspection batches before this key are counted in ``counters``; later ones report
            # their own progress while they run (see shared.sync.progress).
            "foldedThrough": shown["folded"],
            "counters": totals,
        }
        if waiting:
            status["waiting"] = waiting
        context.set_custom_status(status)

    def attempt(make_tasks: Callable[[], list[Any]]) -> Generator[Any, Any, list[Any]]:
        """``task_all`` of the tasks ``make_tasks`` schedules, again after outages."""
        limit = float(state.get("outageLimitSeconds", 0))
        first = float(state.get("outageRetrySeconds", 5))
        since = None
        tries = 0
        while True:
            try:
                results: list[Any] = yield context.task_all(make_tasks())
                if since is not None:
                    show()  # no longer waiting
                return results
            except Exception as exc:
                message = str(exc)
                code = code_of(message)
                now = context.current_utc_datetime
                since = since or now
                waited = (now - since).total_seconds()
                if code not in TRANSIENT_CODES or waited >= limit:
                    raise RunFailure(code, step_of(message), waited) from None
                delay = min(MAX_RETRY_DELAY_SECONDS, first * 2**tries, max(1.0, limit - waited))
                tries += 1
                retry_at = now + timedelta(seconds=delay)
                if not context.is_replaying:
                    _log.warning(
                        "sync run %s: %s, retry %d at %s", state["runId"], code, tries, retry_at
                    )
                show(
                    waiting={
                        "reason": code,
                        "step": step_of(message),
                        "since": _iso(since),
                        "nextRetryAt": _iso(retry_at),
                        "attempt": tries,
                    }
                )
                yield context.create_timer(retry_at)

    def finish(status: RunStatus, error: dict[str, str] | None) -> Generator[Any, Any, Any]:
        payload = {
            **common,
            "status": status.value,
            "totals": totals,
            "error": error,
            "phases": phases,
        }
        results = yield from attempt(
            lambda: [context.call_activity(names.FINISH_RUN_ACTIVITY, payload)]
        )
        yield context.call_activity(names.RUN_ENDED_ACTIVITY, common)  # auto-sync (never raises)
        return results[0]

    def inspect_task(s: Slice, page_index: int) -> Any:
        return context.call_activity(
            names.INSPECT_BATCH_ACTIVITY, {**common, **s, "page": page_index}
        )

    try:
        page: ListedPage | None = state["pendingPage"]
        if page is None:  # the run's first execution
            show(RunStatus.LISTING)
            listed = yield from attempt(
                lambda: [
                    context.call_activity(names.LIST_PAGE_ACTIVITY, _list_input(state, 0, None))
                ]
            )
            page = listed[0]
            assert page is not None
            totals = add_page(totals, page)
        assert page is not None
        # An execution handles listing pages until it has ``pagesPerExecution`` of them (a
        # step of the walk reads one page per folder listed at once), then continues as new:
        # its history is bounded by pages, never by the container.
        handled = 0
        while True:
            complete = page["nextCursor"] is None
            work = slices(page["ref"], page["changed"], state["batchSize"])
            if work:  # only a page with new or changed blobs is inspected
                show(RunStatus.INSPECTING, complete=complete, folded=batch_key(page["index"], 0))
            elif not complete:
                show(RunStatus.LISTING, complete=False)
            next_page: ListedPage | None = None
            for number, wave in enumerate(waves(work, state["batchesInFlight"])):
                lists_next = number == 0 and page["nextCursor"] is not None
                if not wave and not lists_next:  # nothing changed on the last page
                    break

                def make_tasks(
                    wave: list[Slice] = wave, lists_next: bool = lists_next, p: Any = page
                ) -> list[Any]:
                    tasks = [inspect_task(s, p["index"]) for s in wave]
                    if lists_next:
                        tasks.append(
                            context.call_activity(
                                names.LIST_PAGE_ACTIVITY,
                                _list_input(state, p["index"] + 1, p["nextCursor"]),
                            )
                        )
                    return tasks

                results = yield from attempt(make_tasks)
                if lists_next:
                    next_page = results.pop()
                    assert next_page is not None
                    totals = add_page(totals, next_page)
                    complete = next_page["nextCursor"] is None
                for batch in results:
                    totals = add_batch(totals, batch)
                after = batch_key(page["index"], wave[-1]["end"]) if wave else None
                show(complete=complete, folded=after)
            handled += max(1, page.get("pages", 1))
            if next_page is None:
                break
            page = next_page
            if handled >= state["pagesPerExecution"]:
                context.continue_as_new(
                    {
                        **state,
                        "generation": state["generation"] + 1,
                        "pendingPage": page,
                        "totals": totals,
                        "phases": phases,
                    }
                )
                return None
        show(RunStatus.FINALIZING, complete=True)
        summary = yield from finish(RunStatus.COMPLETED, None)
        totals = summary["totals"]
        show(RunStatus.COMPLETED)
        return summary
    except Exception as exc:  # a step failed for good: fail the run clearly
        if isinstance(exc, RunFailure):
            code, step, waited = exc.code, exc.step, exc.waited
        else:  # an activity's unexpected error text is never shown to the customer
            code, step, waited = code_of(str(exc)), step_of(str(exc)), 0.0
        message = customer_message(code, step=step, waited=waited)
        if not context.is_replaying:
            _log.warning("sync run %s failed: %s", state["runId"], code)
        summary = yield from finish(RunStatus.FAILED, {"code": code, "message": message})
        totals = summary["totals"]
        show(RunStatus.FAILED)
        return summary


@bp.orchestration_trigger(context_name="context", orchestration=names.SYNC_RUN_ORCHESTRATOR)
def sync_run(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield from sync_run_steps(context))
