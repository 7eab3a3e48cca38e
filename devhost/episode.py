"""One orchestration episode: what it decides, with no I/O.

An episode takes the messages waiting for an instance and its committed history, and produces
an :class:`EpisodeOutcome`: the history to append (``OrchestratorStarted``, the new events, the
scheduling events of new decisions, ``OrchestratorCompleted``), the new instance record, and the
effects the engine performs once that is committed (activities, timers, children, a message for
the parent, the next execution of a ``continue_as_new``).

:func:`plan_episode` sorts the batch (new execution, stale or duplicate messages, terminate,
suspend/resume); :func:`call_orchestrator` runs the SDK on a worker thread;
:func:`apply_orchestrator_state` turns its ``OrchestratorState`` into decisions through
:mod:`devhost.shim`, mirroring the extension's messages for failures and refusals.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from devhost.config import HostConfig
from devhost.history import (
    Event,
    EventType,
    ParentInstance,
    RuntimeStatus,
    completed_task_id,
    event_type_of,
    execution_started,
    format_timestamp,
    new_event,
    parse_timestamp,
)
from devhost.loader import FunctionIndex, IndexedFunction
from devhost.shim import Decision, DecisionKind, NonDeterminismError, UnsupportedActionError, replay
from devhost.store import InstanceRecord, StoredMessage

OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:"
MAX_CUSTOM_STATUS_BYTES = 16 * 1024
CONTROL_EVENTS = frozenset(
    {EventType.EXECUTION_TERMINATED, EventType.EXECUTION_SUSPENDED, EventType.EXECUTION_RESUMED}
)


@dataclass
class EpisodeOutcome:
    """Everything an episode decided; the engine commits it, then applies it to memory."""

    record: InstanceRecord
    history: list[Event]
    message_ids: list[str | None]  # per history event: the inbox message it came from
    first_new_index: int  # history[first_new_index:] is what this episode appends
    reset_history: bool  # a new execution: the old execution's rows go
    processed_ids: list[str]  # inbox messages this episode consumed (or dropped)
    invoke: bool = False  # whether the orchestrator function must run
    decisions: list[Decision] = field(default_factory=list)
    children: list[tuple[Decision, str]] = field(default_factory=list)  # (decision, child id)
    canceled_timers: list[int] = field(default_factory=list)
    next_execution: StoredMessage | None = None
    parent_message: tuple[ParentInstance, Event] | None = None

    @property
    def started_at(self) -> dt.datetime:
        """This episode's ``OrchestratorStarted`` time (the orchestrator's clock)."""
        return parse_timestamp(str(self.history[self.first_new_index]["Timestamp"]))

    def append(self, event: Event, message_id: str | None = None) -> None:
        self.history.append(event)
        self.message_ids.append(message_id)


def parent_of(history: list[Event]) -> ParentInstance | None:
    for event in history[:3]:
        if event_type_of(event) is EventType.EXECUTION_STARTED:
            return ParentInstance.from_event_field(event.get("ParentInstance"))
    return None


# --------------------------------------------------------------------------------- planning
def plan_episode(
    record: InstanceRecord,
    history: list[Event],
    message_ids: list[str | None],
    batch: list[StoredMessage],
    now: dt.datetime,
) -> EpisodeOutcome:
    """Sort ``batch`` into new history events, stale messages and control actions.

    * An ``ExecutionStarted`` for another execution (a start, a restart, a ``continue_as_new``)
      begins a fresh history; messages addressed to an earlier execution are dropped.
    * Completions of a task already completed are dropped (at-least-once delivery).
    * ``ExecutionTerminated`` ends the execution without running the orchestrator; later
      messages of the batch are dropped.
    * While suspended, everything but suspend, resume and terminate is held (left in the inbox).
    """
    record = record.copy()
    history, message_ids = list(history), list(message_ids)
    processed: list[str] = []
    starts = [
        m
        for m in batch
        if event_type_of(m.event) is EventType.EXECUTION_STARTED
        and (not history or m.execution_id != record.execution_id)
    ]
    start = starts[-1] if starts else None
    if start is not None:
        history, message_ids = [], []
        assert start.execution_id is not None
        record.execution_id = start.execution_id
        record.input = start.event.get("Input")
        record.runtime_status = RuntimeStatus.RUNNING
        record.output = record.custom_status = record.completed_time = None
        generation = start.event.get("Generation")
        record.generation = generation if isinstance(generation, int) else 0
        record.created_time = parse_timestamp(str(start.event["Timestamp"]))

    first_new_index = len(history)
    new_events: list[tuple[Event, str | None]] = []
    completed = {completed_task_id(e) for e in history}
    started = bool(history)
    terminated, terminate_reason = False, None
    suspended = record.runtime_status is RuntimeStatus.SUSPENDED
    for message in batch:
        kind = event_type_of(message.event)
        if kind is EventType.EXECUTION_STARTED:
            processed.append(message.message_id)
            if message is start:
                new_events.append((message.event, message.message_id))
                started = True
            continue
        if message.execution_id not in (None, record.execution_id) or terminated:
            processed.append(message.message_id)  # for an earlier execution, or too late
            continue
        if kind is EventType.EXECUTION_TERMINATED:
            processed.append(message.message_id)
            terminated, terminate_reason = True, message.event.get("Input")
            new_events.append((message.event, message.message_id))
            continue
        if kind in (EventType.EXECUTION_SUSPENDED, EventType.EXECUTION_RESUMED):
            processed.append(message.message_id)
            if suspended == (kind is EventType.EXECUTION_RESUMED):  # a real state change
                suspended = kind is EventType.EXECUTION_SUSPENDED
                new_events.append((message.event, message.message_id))
            continue
        if suspended:
            continue  # held in the inbox until resumed
        processed.append(message.message_id)
        task_id = completed_task_id(message.event)
        if task_id is not None:
            if task_id in completed:
                continue  # duplicate delivery
            completed.add(task_id)
        new_events.append((message.event, message.message_id))

    outcome = EpisodeOutcome(
        record=record,
        history=history,
        message_ids=message_ids,
        first_new_index=first_new_index,
        reset_history=start is not None,
        processed_ids=processed,
    )
    record.last_updated_time = now
    if not new_events:
        return outcome  # only stale or held messages: history is unchanged
    outcome.append(new_event(EventType.ORCHESTRATOR_STARTED, at=now))
    for event, message_id in new_events:
        outcome.append(event, message_id)
    if terminated:
        finish(outcome, RuntimeStatus.TERMINATED, terminate_reason, now)
        return outcome
    if suspended:
        record.runtime_status = RuntimeStatus.SUSPENDED
    elif started and record.runtime_status in (RuntimeStatus.SUSPENDED, RuntimeStatus.PENDING):
        record.runtime_status = RuntimeStatus.RUNNING
    outcome.invoke = started and any(event_type_of(e) not in CONTROL_EVENTS for e, _ in new_events)
    if not outcome.invoke:
        outcome.append(new_event(EventType.ORCHESTRATOR_COMPLETED, at=now))
    return outcome


def finish(
    outcome: EpisodeOutcome, status: RuntimeStatus, output_text: str | None, now: dt.datetime
) -> None:
    """Close the execution: completion events, status, and the message for a parent."""
    record = outcome.record
    record.runtime_status = status
    record.output = output_text
    record.completed_time = record.last_updated_time = now
    completion: dict[str, Any] = {"OrchestrationStatus": status.code, "Result": output_text}
    if status is RuntimeStatus.FAILED:
        completion["FailureDetails"] = {
            "ErrorType": "OrchestrationFailureException",
            "ErrorMessage": output_text,
        }
    outcome.append(new_event(EventType.EXECUTION_COMPLETED, at=now, **completion))
    outcome.append(new_event(EventType.ORCHESTRATOR_COMPLETED, at=now))
    parent = parent_of(outcome.history)
    if parent is not None:
        outcome.parent_message = (parent, child_result_event(parent, record, now))


def child_result_event(
    parent: ParentInstance, record: InstanceRecord, now: dt.datetime | None = None
) -> Event:
    """What a finished sub-orchestration reports to its parent."""
    if record.runtime_status is RuntimeStatus.COMPLETED:
        return new_event(
            EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
            at=now,
            TaskScheduledId=parent.task_schedule_id,
            Result=record.output,
        )
    reason = record.output
    if record.runtime_status is RuntimeStatus.TERMINATED:
        reason = f"Orchestration '{record.instance_id}' was terminated: {record.output}"
    return new_event(
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
        at=now,
        TaskScheduledId=parent.task_schedule_id,
        Reason=reason,
        Details="",
    )


def fail(outcome: EpisodeOutcome, message: str, now: dt.datetime) -> None:
    """Fail for an exception of the orchestrator function (EXT ``TaskOrchestrationShim``)."""
    name = outcome.record.name
    finish(outcome, RuntimeStatus.FAILED, f"Orchestrator function '{name}' failed: {message}", now)


def fail_non_deterministic(outcome: EpisodeOutcome, message: str, now: dt.datetime) -> None:
    """Fail for a replay mismatch: DTFx fails the orchestration itself (``FailOrchestration``
    with a ``NonDeterministicOrchestrationException``), so the output is that exception's
    message, ``Non-Deterministic workflow detected: ...``, without the function-failed prefix."""
    finish(outcome, RuntimeStatus.FAILED, message, now)


# --------------------------------------------------------------------------------- invocation
def build_context(outcome: EpisodeOutcome) -> dict[str, Any]:
    """The orchestration trigger's context JSON (protocol reference §2)."""
    history = outcome.history
    started = next((e for e in history if event_type_of(e) is EventType.EXECUTION_STARTED), None)
    input_text = None if started is None else started.get("Input")
    parent = parent_of(history)
    return {
        "history": history,
        "input": None if input_text is None else json.loads(input_text),
        "instanceId": outcome.record.instance_id,
        "parentInstanceId": None if parent is None else parent.instance_id,
        "isReplaying": bool(len(history) > 1 and history[1].get("IsPlayed")),
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
        "longRunningTimerIntervalDuration": "3.00:00:00",
        "maximumShortTimerDuration": "6.00:00:00",
        "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
    }


def call_orchestrator(
    entry: IndexedFunction, context: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """Run one orchestrator invocation (on a worker thread); returns ``(state, error)``.

    On failure the SDK raises with the state JSON after ``$OutOfProcData$``; the state's
    actions still count (the extension replays them before failing the instance).
    """
    body = json.dumps(context)
    try:
        raw = entry.user_function(func.OrchestrationContext(body))
    except Exception as exc:
        message = str(exc)
        if OUT_OF_PROC_LABEL in message:
            error, _, payload = message.partition(OUT_OF_PROC_LABEL)
            try:
                return json.loads(payload), error
            except ValueError:
                return None, error
        return None, f"{type(exc).__name__}: {exc}"
    try:
        state = json.loads(raw)
    except (TypeError, ValueError):
        return None, "the orchestrator returned an invalid state"
    return (state if isinstance(state, dict) else None), None


# --------------------------------------------------------------------------------- decisions
def apply_orchestrator_state(
    outcome: EpisodeOutcome,
    state: dict[str, Any] | None,
    error: str | None,
    *,
    index: FunctionIndex,
    config: HostConfig,
) -> None:
    """Turn the orchestrator's answer into history, decisions and a status."""
    now = outcome.started_at
    record = outcome.record
    if state is None:
        fail(outcome, error or "the orchestrator returned no state", now)
        return
    if "customStatus" in state:
        custom = json.dumps(state["customStatus"])
        size = len(custom.encode())
        if size > MAX_CUSTOM_STATUS_BYTES:
            fail(
                outcome,
                f"The custom status is {size} bytes when serialized; the limit is "
                f"{MAX_CUSTOM_STATUS_BYTES} bytes (16 KB).",
                now,
            )
            return
        record.custom_status = custom
    if "schemaVersion" not in state:
        fail(outcome, "replay schema V1 is not supported by the dev host", now)
        return
    action_lists = state.get("actions") or [[]]
    actions: list[dict[str, Any]] = action_lists[0] if action_lists else []
    try:
        result = replay(actions, outcome.history)
    except NonDeterminismError as exc:
        fail_non_deterministic(outcome, str(exc), now)
        return
    except UnsupportedActionError as exc:
        fail(outcome, str(exc), now)
        return
    if error is not None or state.get("error"):
        fail(outcome, str(state.get("error") or error), now)
        return
    if result.unreplayed_ids:
        fail_non_deterministic(
            outcome,
            "Non-Deterministic workflow detected: history contains scheduled tasks "
            f"{result.unreplayed_ids} that the orchestrator no longer asks for. "
            "Orchestrator code must be deterministic.",
            now,
        )
        return
    if result.allocated > config.max_orchestration_actions:
        fail(
            outcome,
            f"Maximum amount of orchestration actions ({config.max_orchestration_actions}) has "
            "been reached. This value can be configured in host.json file as "
            "MaxOrchestrationActions.",
            now,
        )
        return
    problem = check_decisions(record, result.decisions, index)
    if problem is not None:
        fail(outcome, problem, now)
        return
    outcome.canceled_timers = result.canceled_timers
    for decision in result.decisions:
        outcome.append(scheduling_event(outcome, decision, now))
    outcome.decisions = result.decisions

    continue_as_new = next((a for a in actions if int(a.get("actionType", -1)) == 4), None)
    if state.get("isDone") and continue_as_new is not None:
        start_next_execution(outcome, continue_as_new.get("input"), now)
    elif state.get("isDone"):
        finish(outcome, RuntimeStatus.COMPLETED, json.dumps(state.get("output")), now)
    else:
        outcome.append(new_event(EventType.ORCHESTRATOR_COMPLETED, at=now))


def check_decisions(
    record: InstanceRecord, decisions: list[Decision], index: FunctionIndex
) -> str | None:
    """The extension's refusals for new work (unknown functions, bad child ids)."""
    for decision in decisions:
        if decision.kind is DecisionKind.ACTIVITY and index.activity(decision.name) is None:
            known = ", ".join(f"'{n}'" for n in sorted(index.activities))
            return (
                f"The function '{decision.name}' doesn't exist, is disabled, or is not an "
                "activity function. Additional info: The following are the known activity "
                f"functions: {known}."
            )
        if decision.kind is not DecisionKind.SUB_ORCHESTRATION:
            continue
        if index.orchestrator(decision.name) is None:
            known = ", ".join(f"'{n}'" for n in sorted(index.orchestrators))
            return (
                f"The function '{decision.name}' doesn't exist, is disabled, or is not an "
                "orchestrator function. Additional info: The following are the known "
                f"orchestrator functions: {known}."
            )
        if decision.instance_id is not None:
            if decision.instance_id == record.instance_id:
                return "A sub-orchestration cannot use its parent's instance ID."
            problem = instance_id_problem(decision.instance_id)
            if problem is not None:
                return problem
    return None


MAX_INSTANCE_ID_LENGTH = 256


def instance_id_problem(instance_id: str) -> str | None:
    """The extension's rules for instance ids (EXT ``DurableClient``), or ``None`` if valid."""
    if not instance_id or not instance_id.strip():
        return "Instance ID must not be empty."
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        return f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_LENGTH} characters."
    if instance_id.startswith("@"):
        return "Orchestration instance ids must not start with @."
    if any(ch in "/\\#?" or ord(ch) <= 0x1F or 0x7F <= ord(ch) <= 0x9F for ch in instance_id):
        return "Orchestration instance ids must not contain /, \\, #, ? or control characters."
    return None


def scheduling_event(outcome: EpisodeOutcome, decision: Decision, now: dt.datetime) -> Event:
    """The history event recording a new decision (and, for children, their instance id)."""
    if decision.kind is DecisionKind.ACTIVITY:
        return new_event(
            EventType.TASK_SCHEDULED,
            event_id=decision.event_id,
            at=now,
            Name=decision.name,
            Version=None,
            Input=None if decision.input is None else json.dumps([decision.input]),
        )
    if decision.kind is DecisionKind.TIMER:
        assert decision.fire_at is not None
        return new_event(
            EventType.TIMER_CREATED,
            event_id=decision.event_id,
            at=now,
            FireAt=format_timestamp(decision.fire_at),
        )
    child_id = decision.instance_id or f"{outcome.record.execution_id}:{decision.event_id}"
    outcome.children.append((decision, child_id))
    return new_event(
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        event_id=decision.event_id,
        at=now,
        Name=decision.name,
        Version=None,
        InstanceId=child_id,
        Input=decision.input,
    )


def start_next_execution(outcome: EpisodeOutcome, input_text: str | None, now: dt.datetime) -> None:
    """``continue_as_new``: close this execution and queue the next one's start."""
    record = outcome.record
    input_json = None if input_text is None else json.dumps(input_text)
    outcome.append(
        new_event(
            EventType.CONTINUE_AS_NEW,
            at=now,
            OrchestrationStatus=RuntimeStatus.CONTINUED_AS_NEW.code,
            Result=input_json,
        )
    )
    outcome.append(new_event(EventType.ORCHESTRATOR_COMPLETED, at=now))
    record.runtime_status = RuntimeStatus.CONTINUED_AS_NEW
    execution_id = uuid.uuid4().hex
    started = execution_started(
        instance_id=record.instance_id,
        execution_id=execution_id,
        name=record.name,
        input_json=input_json,
        parent=parent_of(outcome.history),
        generation=record.generation + 1,
        at=now,
    )
    outcome.next_execution = StoredMessage(new_message_id(), started, execution_id)


_message_counter = itertools.count()


def new_message_id() -> str:
    """Sortable by arrival, within and across runs of the host."""
    sequence = next(_message_counter) % 1_000_000
    return f"{time.time_ns():020d}-{sequence:06d}-{uuid.uuid4().hex[:6]}"
