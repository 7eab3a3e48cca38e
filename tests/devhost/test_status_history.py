"""``showHistory``: the status API's ``historyEvents`` as the Durable extension shapes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from devhost.history import (
    EventType,
    ParentInstance,
    RuntimeStatus,
    execution_started,
    new_event,
)
from devhost.management import project_history

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def history() -> list[dict[str, Any]]:
    """A child orchestration: one activity done, one failed, one still running, a timer."""
    parent = ParentInstance("parent-1", "exec-p", "parent_orchestrator", 4)
    return [
        new_event(EventType.ORCHESTRATOR_STARTED, at=at(0)),
        execution_started(
            instance_id="child-1",
            execution_id="exec-c",
            name="child_orchestrator",
            input_json='"5"',
            parent=parent,
            at=at(0),
        ),
        new_event(
            EventType.TASK_SCHEDULED,
            event_id=0,
            at=at(0),
            Name="square",
            Version=None,
            Input='["5"]',
        ),
        new_event(
            EventType.TASK_SCHEDULED,
            event_id=1,
            at=at(0),
            Name="flaky",
            Version=None,
            Input='["1"]',
        ),
        new_event(EventType.TIMER_CREATED, event_id=2, at=at(0), FireAt="2026-01-02T03:05:00Z"),
        new_event(EventType.ORCHESTRATOR_COMPLETED, at=at(0)),
        new_event(EventType.ORCHESTRATOR_STARTED, at=at(1)),
        new_event(EventType.TASK_COMPLETED, at=at(1), TaskScheduledId=0, Result="25"),
        new_event(
            EventType.TASK_FAILED,
            at=at(1),
            TaskScheduledId=1,
            Reason="Activity function 'flaky' failed: RuntimeError: no",
            Details="Traceback ...",
        ),
        new_event(EventType.TIMER_FIRED, at=at(1), TimerId=2, FireAt="2026-01-02T03:05:00Z"),
        new_event(
            EventType.TASK_SCHEDULED,
            event_id=3,
            at=at(1),
            Name="double",
            Version=None,
            Input='["7"]',
        ),
        new_event(EventType.ORCHESTRATOR_COMPLETED, at=at(1)),
        new_event(EventType.ORCHESTRATOR_STARTED, at=at(2)),
        new_event(
            EventType.EXECUTION_COMPLETED,
            at=at(2),
            OrchestrationStatus=RuntimeStatus.FAILED.code,
            Result="Orchestrator function 'child_orchestrator' failed: no",
        ),
        new_event(EventType.ORCHESTRATOR_COMPLETED, at=at(2)),
    ]


def test_rows_and_their_order_follow_the_extension() -> None:
    rows = project_history(history(), show_input=False, show_output=False)
    assert [r["EventType"] for r in rows] == [
        "ExecutionStarted",
        "TimerCreated",
        "TaskCompleted",
        "TaskFailed",
        "TimerFired",
        "TaskScheduled",  # "double" has not completed: its row stays
        "ExecutionCompleted",
    ]
    for row in rows:
        assert not {"EventId", "IsPlayed", "TaskScheduledId", "Input", "Version"} & row.keys()


def test_execution_started_keeps_only_what_the_extension_shows() -> None:
    started = project_history(history(), show_input=True, show_output=False)[0]
    assert started["FunctionName"] == "child_orchestrator"
    assert started["Input"] == '"5"'
    assert not {"Name", "OrchestrationInstance", "ParentInstance", "Tags", "Version"} & (
        started.keys()
    )
    hidden = project_history(history(), show_input=False, show_output=False)[0]
    assert "Input" not in hidden


def test_completions_carry_their_scheduling_and_results_only_when_asked() -> None:
    rows = {
        r["EventType"]: r for r in project_history(history(), show_input=True, show_output=True)
    }
    done = rows["TaskCompleted"]
    assert (done["FunctionName"], done["Input"], done["Result"]) == ("square", '["5"]', 25)
    assert done["ScheduledTime"] == history()[2]["Timestamp"]
    failed = rows["TaskFailed"]
    assert failed["FunctionName"] == "flaky" and failed["Reason"].startswith("Activity function")
    assert "Result" not in failed
    running = rows["TaskScheduled"]
    assert (running["Name"], running["Input"]) == ("double", '["7"]')
    assert "TimerId" not in rows["TimerFired"]
    completed = rows["ExecutionCompleted"]
    assert completed["OrchestrationStatus"] == "Failed"
    assert completed["Result"].startswith("Orchestrator function")


@pytest.mark.parametrize("show_output", [False, True])
def test_results_are_hidden_without_show_history_output(show_output: bool) -> None:
    rows = project_history(history(), show_input=False, show_output=show_output)
    with_result = {r["EventType"] for r in rows if "Result" in r}
    assert with_result == ({"TaskCompleted", "ExecutionCompleted"} if show_output else set())
