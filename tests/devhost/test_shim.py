"""Event-id allocation and replay of hand-built action lists (protocol reference §4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from devhost.history import Event, EventType, format_timestamp, new_event
from devhost.shim import (
    DecisionKind,
    NonDeterminismError,
    UnsupportedActionError,
    replay,
)

T0 = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def activity(name: str, value: str = "null") -> dict[str, Any]:
    return {"actionType": 0, "functionName": name, "input": value}


def retry(name: str, attempts: int, interval_ms: int = 1000) -> dict[str, Any]:
    return {
        "actionType": 1,
        "functionName": name,
        "input": "null",
        "retryOptions": {
            "firstRetryIntervalInMilliseconds": interval_ms,
            "maxNumberOfAttempts": attempts,
        },
    }


def timer(at: dt.datetime, canceled: bool = False) -> dict[str, Any]:
    return {
        "actionType": 5,
        "fireAt": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "isCanceled": canceled,
    }


def when_all(*children: dict[str, Any]) -> dict[str, Any]:
    return {"actionType": 12, "compoundActions": list(children)}


def when_any(*children: dict[str, Any]) -> dict[str, Any]:
    return {"actionType": 11, "compoundActions": list(children)}


def wait_event(name: str) -> dict[str, Any]:
    return {"actionType": 6, "externalEventName": name, "reason": "ExternalEvent"}


class History:
    """Builds a history episode by episode, like the engine does."""

    def __init__(self) -> None:
        self.now = T0
        self.events: list[Event] = [
            new_event(EventType.ORCHESTRATOR_STARTED, at=self.now),
            new_event(EventType.EXECUTION_STARTED, at=self.now, Name="o", Version=None, Input=None),
        ]

    def episode(self, *events: Event, seconds: float = 1.0) -> History:
        self.now += dt.timedelta(seconds=seconds)
        self.events.append(new_event(EventType.ORCHESTRATOR_STARTED, at=self.now))
        self.events.extend(events)
        return self

    def scheduled(self, event_id: int, name: str) -> History:
        self.events.append(new_event(EventType.TASK_SCHEDULED, event_id=event_id, Name=name))
        return self

    def timer_created(self, event_id: int, at: dt.datetime) -> History:
        self.events.append(
            new_event(EventType.TIMER_CREATED, event_id=event_id, FireAt=format_timestamp(at))
        )
        return self


def completed(task_id: int, result: str = "1") -> Event:
    return new_event(EventType.TASK_COMPLETED, TaskScheduledId=task_id, Result=result)


def failed(task_id: int) -> Event:
    return new_event(EventType.TASK_FAILED, TaskScheduledId=task_id, Reason="boom", Details="")


def fired(timer_id: int) -> Event:
    return new_event(EventType.TIMER_FIRED, TimerId=timer_id)


def raised(name: str) -> Event:
    return new_event(EventType.EVENT_RAISED, Name=name, Input='"x"')


def test_first_episode_schedules_only_the_first_awaited_action() -> None:
    history = History()
    result = replay([activity("a"), activity("b")], history.events)
    assert [(d.event_id, d.kind, d.name) for d in result.decisions] == [
        (0, DecisionKind.ACTIVITY, "a")
    ]


def test_fan_out_ids_follow_action_order_and_completion_order_does_not_matter() -> None:
    history = History().scheduled(0, "list")
    history.episode(completed(0, '["x","y","z"]'))
    actions = [activity("list"), when_all(*(activity("work", f'"{c}"') for c in "xyz"))]
    first = replay(actions, history.events)
    assert [(d.event_id, d.name, d.input) for d in first.decisions] == [
        (1, "work", '"x"'),
        (2, "work", '"y"'),
        (3, "work", '"z"'),
    ]
    for d in first.decisions:
        history.scheduled(d.event_id, "work")
    history.episode(completed(3), completed(1), completed(2))  # reverse-ish order
    final = replay([*actions, activity("summarize")], history.events)
    assert [(d.event_id, d.name) for d in final.decisions] == [(4, "summarize")]
    assert final.unreplayed_ids == []


def test_retry_allocates_timer_then_new_attempt_ids_like_dtfx() -> None:
    """Success on attempt 3: TaskScheduled 0, timer 1, attempt 2, timer 3, attempt 4."""
    actions = [when_all(retry("flaky", attempts=3))]
    history = History()
    assert [d.event_id for d in replay(actions, history.events).decisions] == [0]
    history.scheduled(0, "flaky").episode(failed(0))
    decisions = replay(actions, history.events).decisions
    assert [(d.event_id, d.kind) for d in decisions] == [(1, DecisionKind.TIMER)]
    assert decisions[0].fire_at == history.now + dt.timedelta(seconds=1)
    history.timer_created(1, history.now).episode(fired(1))
    assert [d.event_id for d in replay(actions, history.events).decisions] == [2]
    history.scheduled(2, "flaky").episode(failed(2))
    history.timer_created(3, history.now).episode(fired(3))
    history.scheduled(4, "flaky").episode(completed(4))
    result = replay([*actions, activity("next")], history.events)
    assert [(d.event_id, d.name) for d in result.decisions] == [(5, "next")]


def test_exhausted_retry_waits_for_a_timer_firing_at_once() -> None:
    actions = [when_all(retry("flaky", attempts=1, interval_ms=5000))]
    history = History().scheduled(0, "flaky").episode(failed(0))
    decisions = replay(actions, history.events).decisions
    assert [(d.event_id, d.kind) for d in decisions] == [(1, DecisionKind.TIMER)]
    assert decisions[0].fire_at == history.now  # the dummy timer, not the retry interval


def test_when_any_event_beats_timer_and_canceled_timer_is_reported() -> None:
    deadline = T0 + dt.timedelta(seconds=30)
    waiting = [when_any(wait_event("Approve"), timer(deadline))]
    history = History()
    decisions = replay(waiting, history.events).decisions
    assert [(d.event_id, d.kind) for d in decisions] == [(0, DecisionKind.TIMER)]
    history.timer_created(0, deadline).episode(raised("Approve"))
    after = [when_any(wait_event("Approve"), timer(deadline, canceled=True)), timer(T0)]
    result = replay(after, history.events)
    assert result.canceled_timers == [0]
    assert [(d.event_id, d.kind) for d in result.decisions] == [(1, DecisionKind.TIMER)]


def test_event_raised_before_the_wait_is_buffered() -> None:
    history = History().episode(raised("approve"))  # DTFx matches names case-insensitively
    result = replay([wait_event("Approve"), activity("after")], history.events)
    assert [(d.event_id, d.name) for d in result.decisions] == [(0, "after")]


def test_canceled_timer_still_consumes_an_id() -> None:
    result = replay([timer(T0, canceled=True), activity("a")], History().events)
    assert [(d.event_id, d.kind, d.canceled) for d in result.decisions] == [
        (0, DecisionKind.TIMER, True),
        (1, DecisionKind.ACTIVITY, False),
    ]


def test_renamed_activity_is_non_deterministic() -> None:
    history = History().scheduled(0, "square")
    with pytest.raises(NonDeterminismError, match="Non-Deterministic workflow detected"):
        replay([activity("double")], history.events)


def test_activity_replaced_by_timer_is_non_deterministic() -> None:
    history = History().scheduled(0, "square")
    with pytest.raises(NonDeterminismError):
        replay([timer(T0)], history.events)


def test_scheduled_task_no_longer_requested_is_reported() -> None:
    history = History().scheduled(0, "a").scheduled(1, "b")
    result = replay([activity("a")], history.events)
    assert result.unreplayed_ids == [1]


def test_sub_orchestration_decision_keeps_explicit_instance_id() -> None:
    actions = [
        when_all(
            {"actionType": 2, "functionName": "child", "input": "1", "instanceId": None},
            {"actionType": 2, "functionName": "child", "input": "2", "instanceId": "fixed"},
        )
    ]
    decisions = replay(actions, History().events).decisions
    assert [(d.event_id, d.kind, d.instance_id) for d in decisions] == [
        (0, DecisionKind.SUB_ORCHESTRATION, None),
        (1, DecisionKind.SUB_ORCHESTRATION, "fixed"),
    ]


def test_entities_are_refused_with_a_clear_message() -> None:
    action = {"actionType": 9, "instanceId": "@counter@a", "operation": "add", "input": "1"}
    with pytest.raises(UnsupportedActionError, match="entities are not supported"):
        replay([action], History().events)


def test_empty_when_all_completes_at_once() -> None:
    result = replay([when_all(), activity("after")], History().events)
    assert [(d.event_id, d.name) for d in result.decisions] == [(0, "after")]
