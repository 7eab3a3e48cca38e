"""Replay an orchestrator's cumulative action list against its history and allocate event ids.

The Durable extension's ``OutOfProcOrchestrationShim.ProcessAsyncActionsV2`` re-issues every action
the SDK returned, in order, against a real DTFx context: each top-level action is awaited before
the next is issued (``WhenAll`` waits for *all* children as .NET does, ``WhenAny`` for one), so
DTFx hands out event ids in exactly that order. Scheduling events already in history are replays;
the rest are new decisions. The Python SDK numbers its tasks the same way, which is why the host
must reproduce this order precisely: a different order silently delivers a result to the wrong
task (protocol reference §4).

:func:`replay` is pure: history and actions in, new decisions (or an error) out.

Retries follow ``RetryInterceptor``: attempt *k* gets an id; a failed attempt allocates a retry
timer (``firstRetryInterval`` later, no backoff from Python) and, once it fires, the next attempt;
the last failed attempt allocates a timer firing at once, and the retry fails when it fires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from devhost.history import (
    SCHEDULING_EVENTS,
    Event,
    EventType,
    event_type_of,
    parse_timestamp,
)


class ActionType(IntEnum):
    """``azure.durable_functions.models.actions.ActionType``."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


class DecisionKind(Enum):
    ACTIVITY = "activity"
    TIMER = "timer"
    SUB_ORCHESTRATION = "sub_orchestration"

    @property
    def scheduling_event(self) -> EventType:
        return _SCHEDULING_EVENT[self]


_SCHEDULING_EVENT = {
    DecisionKind.ACTIVITY: EventType.TASK_SCHEDULED,
    DecisionKind.TIMER: EventType.TIMER_CREATED,
    DecisionKind.SUB_ORCHESTRATION: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
}
_KIND_OF_EVENT = {v: k for k, v in _SCHEDULING_EVENT.items()}


class NonDeterminismError(Exception):
    """The actions no longer match the history (DTFx: ``NonDeterministicOrchestrationException``)."""


class UnsupportedActionError(Exception):
    """An action the dev host deliberately does not implement (entities, durable HTTP)."""


@dataclass(frozen=True)
class Decision:
    """Work the orchestrator asked for that history does not yet contain."""

    event_id: int
    kind: DecisionKind
    name: str | None = None  # activity / orchestrator name
    input: str | None = None  # the SDK's input text S (activities, sub-orchestrations)
    fire_at: dt.datetime | None = None  # timers
    instance_id: str | None = None  # explicit sub-orchestration id (None = default)
    canceled: bool = False  # a timer created already canceled: recorded, never fired


@dataclass
class ReplayResult:
    decisions: list[Decision]
    #: Scheduling events in history whose id the replay never reached.
    unreplayed_ids: list[int]
    #: Number of event ids allocated (actions that count against ``maxOrchestrationActions``).
    allocated: int
    #: Ids of timers whose action is now canceled (old or new): they need not fire.
    canceled_timers: list[int] = field(default_factory=list)


@dataclass(eq=False)
class _Node:
    kind: str  # task | suborch | timer | event | retry | all | any | done
    action: dict[str, Any] | None
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)
    done: bool = False
    failed: bool = False
    event_id: int | None = None
    # retry bookkeeping
    attempt: int = 0
    final_attempt: bool = False


_ATOMIC_OF = {
    ActionType.CALL_ACTIVITY_WITH_RETRY: ActionType.CALL_ACTIVITY,
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY: ActionType.CALL_SUB_ORCHESTRATOR,
}


class _Replayer:
    def __init__(self, actions: list[dict[str, Any]], history: list[Event]) -> None:
        self._actions = actions
        self._history = history
        self._scheduled: dict[int, Event] = {}
        for event in history:
            if event_type_of(event) in SCHEDULING_EVENTS:
                self._scheduled[int(event["EventId"])] = event
        self._next_id = 0
        self._leaves: dict[int, _Node] = {}
        self._waiters: dict[str, list[_Node]] = {}
        self._buffered: dict[str, int] = {}
        self._cursor = 0
        self._current: _Node | None = None
        self._now: dt.datetime | None = None
        self._decisions: list[Decision] = []
        self._canceled_timers: list[int] = []

    # -- allocation ---------------------------------------------------------------------
    def _allocate(
        self,
        node: _Node,
        kind: DecisionKind,
        *,
        name: str | None = None,
        input_text: str | None = None,
        fire_at: dt.datetime | None = None,
        instance_id: str | None = None,
        canceled: bool = False,
    ) -> None:
        event_id = self._next_id
        self._next_id += 1
        node.event_id = event_id
        self._leaves[event_id] = node
        old = self._scheduled.get(event_id)
        if old is None:
            self._decisions.append(
                Decision(event_id, kind, name, input_text, fire_at, instance_id, canceled)
            )
            return
        old_kind = _KIND_OF_EVENT.get(event_type_of(old))
        old_name = old.get("Name")
        if old_kind is not kind or (name is not None and old_name not in (None, name)):
            described = f"{old_kind.value if old_kind else event_type_of(old).wire_name}"
            raise NonDeterminismError(
                "Non-Deterministic workflow detected: "
                f"history has {described}({old_name or ''}) with id {event_id}, "
                f"but the orchestrator now asks for {kind.value}({name or ''}). "
                "Orchestrator code must be deterministic."
            )

    # -- actions -----------------------------------------------------------------------
    def _invoke(self, action: dict[str, Any], parent: _Node | None) -> _Node:
        try:
            action_type = ActionType(int(action["actionType"]))
        except (KeyError, ValueError) as exc:
            raise UnsupportedActionError(f"unknown action {action!r}") from exc

        if action_type is ActionType.CALL_ACTIVITY:
            node = _Node("task", action, parent)
            self._allocate(
                node,
                DecisionKind.ACTIVITY,
                name=str(action["functionName"]),
                input_text=action.get("input"),
            )
            return node
        if action_type is ActionType.CALL_SUB_ORCHESTRATOR:
            node = _Node("suborch", action, parent)
            self._allocate_suborchestration(node, action)
            return node
        if action_type in _ATOMIC_OF:
            node = _Node("retry", action, parent)
            self._next_attempt(node)
            return node
        if action_type is ActionType.CREATE_TIMER:
            node = _Node("timer", action, parent)
            canceled = bool(action.get("isCanceled"))
            self._allocate(
                node,
                DecisionKind.TIMER,
                fire_at=parse_timestamp(str(action["fireAt"])),
                canceled=canceled,
            )
            node.done = canceled  # a canceled timer still consumes its id
            if canceled and node.event_id is not None:
                self._canceled_timers.append(node.event_id)
            return node
        if action_type is ActionType.WAIT_FOR_EXTERNAL_EVENT:
            node = _Node("event", action, parent)
            name = str(action["externalEventName"]).lower()  # DTFx matches case-insensitively
            if self._buffered.get(name):
                self._buffered[name] -= 1
                node.done = True
            else:
                self._waiters.setdefault(name, []).append(node)
            return node
        if action_type is ActionType.CONTINUE_AS_NEW:
            return _Node("done", action, parent, done=True)
        if action_type in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            node = _Node("all" if action_type is ActionType.WHEN_ALL else "any", action, parent)
            for child in action.get("compoundActions") or []:
                node.children.append(self._invoke(child, node))
            self._check_compound(node)
            return node
        if action_type in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
            raise UnsupportedActionError(
                "Durable entities are not supported by the dev host (call_entity/signal_entity)"
            )
        raise UnsupportedActionError(
            "Durable HTTP (call_http) is not supported by the dev host; call an activity instead"
        )

    def _allocate_suborchestration(self, node: _Node, action: dict[str, Any]) -> None:
        self._allocate(
            node,
            DecisionKind.SUB_ORCHESTRATION,
            name=str(action["functionName"]),
            input_text=action.get("input"),
            instance_id=action.get("instanceId") or None,
        )

    def _next_attempt(self, retry: _Node) -> None:
        assert retry.action is not None
        retry.attempt += 1
        atomic = _ATOMIC_OF[ActionType(int(retry.action["actionType"]))]
        if atomic is ActionType.CALL_ACTIVITY:
            child = _Node("task", retry.action, retry)
            self._allocate(
                child,
                DecisionKind.ACTIVITY,
                name=str(retry.action["functionName"]),
                input_text=retry.action.get("input"),
            )
        else:
            child = _Node("suborch", retry.action, retry)
            self._allocate_suborchestration(child, retry.action)
        retry.children.append(child)

    # -- completion propagation ---------------------------------------------------------
    def _check_compound(self, node: _Node) -> None:
        if node.done:
            return
        if node.kind == "all" and all(c.done for c in node.children):
            node.done = True
            node.failed = any(c.failed for c in node.children)
        elif node.kind == "any" and any(c.done for c in node.children):
            node.done = True
        if node.done and node.parent is not None:
            self._child_done(node.parent, node)

    def _child_done(self, parent: _Node, child: _Node) -> None:
        if parent.kind in ("all", "any"):
            self._check_compound(parent)
            return
        if parent.kind != "retry":
            return
        assert parent.action is not None
        options = parent.action.get("retryOptions") or {}
        if child.kind == "timer":
            if parent.final_attempt:
                parent.done, parent.failed = True, True
            else:
                self._next_attempt(parent)
        elif not child.failed:
            parent.done = True
        else:
            max_attempts = int(options.get("maxNumberOfAttempts", 1))
            parent.final_attempt = parent.attempt >= max_attempts
            delay = dt.timedelta(
                milliseconds=0
                if parent.final_attempt
                else int(options.get("firstRetryIntervalInMilliseconds", 0))
            )
            assert self._now is not None
            timer = _Node("timer", None, parent)
            self._allocate(timer, DecisionKind.TIMER, fire_at=self._now + delay)
            parent.children.append(timer)
        if parent.done and parent.parent is not None:
            self._child_done(parent.parent, parent)

    def _complete(self, leaf: _Node | None, *, ok: bool) -> None:
        if leaf is None or leaf.done:
            return  # unknown or duplicate completion: ignored, as DTFx does
        leaf.done, leaf.failed = True, not ok
        if leaf.parent is not None:
            self._child_done(leaf.parent, leaf)

    def _pump(self) -> None:
        """Issue top-level actions in order while the current one is done."""
        while True:
            if self._current is not None:
                if not self._current.done:
                    return
                self._cursor += 1
            if self._cursor >= len(self._actions):
                self._current = None
                self._cursor = len(self._actions)
                return
            self._current = self._invoke(self._actions[self._cursor], None)

    # -- driver ------------------------------------------------------------------------
    def run(self) -> ReplayResult:
        started = False
        for event in self._history:
            kind = event_type_of(event)
            if kind is EventType.ORCHESTRATOR_STARTED:
                self._now = parse_timestamp(str(event["Timestamp"]))
                continue
            if kind is EventType.EXECUTION_STARTED:
                started = True
            elif kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
                self._complete(self._leaves.get(int(event["TaskScheduledId"])), ok=True)
            elif kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
                self._complete(self._leaves.get(int(event["TaskScheduledId"])), ok=False)
            elif kind is EventType.TIMER_FIRED:
                self._complete(self._leaves.get(int(event["TimerId"])), ok=True)
            elif kind is EventType.EVENT_RAISED:
                name = str(event.get("Name") or "").lower()
                waiters = self._waiters.get(name)
                if waiters:
                    self._complete(waiters.pop(0), ok=True)
                else:
                    self._buffered[name] = self._buffered.get(name, 0) + 1
            else:
                continue
            if started:
                self._pump()
        unreplayed = sorted(set(self._scheduled) - set(self._leaves))
        return ReplayResult(self._decisions, unreplayed, self._next_id, self._canceled_timers)


def replay(actions: list[dict[str, Any]], history: list[Event]) -> ReplayResult:
    """Replay ``actions`` (the SDK's single V2/V3 action list) against ``history``.

    ``history`` is the full execution history including this episode's new events (but not yet
    the decisions). Raises :class:`NonDeterminismError` when an allocated id's historical
    scheduling event has another type or name, and :class:`UnsupportedActionError` for actions
    the dev host does not implement.
    """
    return _Replayer(actions, history).run()
