"""History events of the Durable Task Framework, as the out-of-proc protocol carries them.

An event is a plain ``dict`` with PascalCase keys, exactly what the Python SDK receives in the
orchestration context JSON (``EventType`` an integer, ``Timestamp`` an ISO-8601 UTC string with
seven fractional digits and ``Z``). This module names the event types and runtime statuses and
builds well-formed events; it has no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import Enum, IntEnum
from typing import Any

#: One history event (PascalCase keys, JSON-compatible values).
Event = dict[str, Any]

UTC = dt.UTC


class EventType(IntEnum):
    """``DurableTask.Core.History.EventType`` values."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_INSTANCE_CREATED = 7
    SUB_ORCHESTRATION_INSTANCE_COMPLETED = 8
    SUB_ORCHESTRATION_INSTANCE_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20

    @property
    def wire_name(self) -> str:
        """The .NET enum name (``TaskScheduled``), used in tables and the status API."""
        return _WIRE_NAMES[self]

    @classmethod
    def from_wire_name(cls, name: str) -> EventType:
        return _BY_WIRE_NAME[name]


_WIRE_NAMES = {t: "".join(part.capitalize() for part in t.name.split("_")) for t in EventType}
_BY_WIRE_NAME = {v: k for k, v in _WIRE_NAMES.items()}


class RuntimeStatus(str, Enum):
    """``OrchestrationRuntimeStatus`` names, as the status API and the Instances table spell them."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    PENDING = "Pending"
    SUSPENDED = "Suspended"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def code(self) -> int:
        """The DTFx ``OrchestrationStatus`` integer (used in ``ExecutionCompleted``)."""
        return _STATUS_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> RuntimeStatus:
        """The status of a DTFx ``OrchestrationStatus`` integer."""
        return next(status for status, value in _STATUS_CODES.items() if value == code)

    @classmethod
    def parse(cls, text: str) -> RuntimeStatus:
        """Case-insensitive lookup (query strings arrive in any casing)."""
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        raise ValueError(f"unknown runtime status {text!r}")


TERMINAL_STATUSES = frozenset(
    {
        RuntimeStatus.COMPLETED,
        RuntimeStatus.FAILED,
        RuntimeStatus.TERMINATED,
        RuntimeStatus.CANCELED,
    }
)
#: Statuses in which ``start_new`` with the same id is refused (EXT ``OverridableStates``).
ACTIVE_STATUSES = frozenset(
    {
        RuntimeStatus.RUNNING,
        RuntimeStatus.PENDING,
        RuntimeStatus.SUSPENDED,
        RuntimeStatus.CONTINUED_AS_NEW,
    }
)
_STATUS_CODES = {
    RuntimeStatus.RUNNING: 0,
    RuntimeStatus.COMPLETED: 1,
    RuntimeStatus.CONTINUED_AS_NEW: 2,
    RuntimeStatus.FAILED: 3,
    RuntimeStatus.CANCELED: 4,
    RuntimeStatus.TERMINATED: 5,
    RuntimeStatus.PENDING: 6,
    RuntimeStatus.SUSPENDED: 7,
}


# --------------------------------------------------------------------------------- time
def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def format_timestamp(moment: dt.datetime) -> str:
    """Newtonsoft round-trip style: ``2024-01-01T12:00:00.1234560Z`` (always UTC, 7 digits)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse the ISO-8601 forms the SDK and the host produce; naive values are taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:  # trim fractions beyond microseconds (.NET writes 7 digits)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{(digits + '000000')[:6]}{rest}"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_status_time(moment: dt.datetime) -> str:
    """The status API's ``createdTime`` / ``lastUpdatedTime`` form: seconds and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------- events
def new_event(
    event_type: EventType, *, event_id: int = -1, at: dt.datetime | None = None, **fields: Any
) -> Event:
    """An event with the four keys the SDK requires plus ``fields``."""
    event: Event = {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(at or utcnow()),
    }
    event.update(fields)
    return event


def event_type_of(event: Event) -> EventType:
    return EventType(int(event["EventType"]))


def execution_started(
    *,
    instance_id: str,
    execution_id: str,
    name: str,
    input_json: str | None,
    parent: ParentInstance | None = None,
    generation: int = 0,
    at: dt.datetime | None = None,
) -> Event:
    """``ExecutionStarted``; ``Version`` must be present (the SDK reads it unconditionally)."""
    return new_event(
        EventType.EXECUTION_STARTED,
        at=at,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=None if parent is None else parent.to_event_field(),
        Name=name,
        Version=None,
        Input=input_json,
        Tags=None,
        Generation=generation,
    )


class ParentInstance:
    """Where a sub-orchestration reports back: the parent's ids and the scheduling event id."""

    __slots__ = ("execution_id", "instance_id", "name", "task_schedule_id")

    def __init__(self, instance_id: str, execution_id: str, name: str, task_schedule_id: int):
        self.instance_id = instance_id
        self.execution_id = execution_id
        self.name = name
        self.task_schedule_id = task_schedule_id

    def to_event_field(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Version": None,
            "TaskScheduleId": self.task_schedule_id,
            "OrchestrationInstance": {
                "InstanceId": self.instance_id,
                "ExecutionId": self.execution_id,
            },
        }

    @classmethod
    def from_event_field(cls, field: Any) -> ParentInstance | None:
        if not isinstance(field, dict):
            return None
        inst = field.get("OrchestrationInstance") or {}
        return cls(
            instance_id=str(inst.get("InstanceId")),
            execution_id=str(inst.get("ExecutionId")),
            name=str(field.get("Name") or ""),
            task_schedule_id=int(field.get("TaskScheduleId", -1)),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParentInstance) and (
            self.instance_id,
            self.execution_id,
            self.task_schedule_id,
        ) == (other.instance_id, other.execution_id, other.task_schedule_id)

    def __hash__(self) -> int:
        return hash((self.instance_id, self.execution_id, self.task_schedule_id))


def activity_input_from_scheduled(event: Event) -> str | None:
    """The SDK's input text ``S`` back from ``TaskScheduled.Input`` (stored as ``[S]``)."""
    raw = event.get("Input")
    if raw is None:
        return None
    try:
        decoded = json.loads(raw)
    except (TypeError, ValueError):
        return str(raw)
    if isinstance(decoded, list) and len(decoded) == 1 and isinstance(decoded[0], str):
        return decoded[0]
    return str(raw)


#: Events that schedule work and carry an allocated ``EventId``.
SCHEDULING_EVENTS = frozenset(
    {
        EventType.TASK_SCHEDULED,
        EventType.TIMER_CREATED,
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        EventType.EVENT_SENT,
    }
)
#: Completion events and the key naming the task they complete.
COMPLETION_KEYS = {
    EventType.TASK_COMPLETED: "TaskScheduledId",
    EventType.TASK_FAILED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: "TaskScheduledId",
    EventType.TIMER_FIRED: "TimerId",
}


#: Fields each event type carries even when null (tables cannot store nulls; the SDK reads
#: ``ExecutionStarted.Version`` unconditionally).
NULLABLE_FIELDS: dict[EventType, tuple[str, ...]] = {
    EventType.EXECUTION_STARTED: ("ParentInstance", "Name", "Version", "Input", "Tags"),
    EventType.EXECUTION_COMPLETED: ("Result",),
    EventType.EXECUTION_TERMINATED: ("Input",),
    EventType.TASK_SCHEDULED: ("Name", "Version", "Input"),
    EventType.TASK_COMPLETED: ("Result",),
    EventType.TASK_FAILED: ("Reason", "Details"),
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: ("Name", "Version", "InstanceId", "Input"),
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: ("Result",),
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: ("Reason", "Details"),
    EventType.EVENT_RAISED: ("Name", "Input"),
    EventType.CONTINUE_AS_NEW: ("Result",),
    EventType.EXECUTION_SUSPENDED: ("Reason",),
    EventType.EXECUTION_RESUMED: ("Reason",),
}


def with_null_fields(event: Event) -> Event:
    """``event`` with its type's nullable fields present (``None`` where missing)."""
    for key in NULLABLE_FIELDS.get(event_type_of(event), ()):
        event.setdefault(key, None)
    return event


def completed_task_id(event: Event) -> int | None:
    """The scheduling id a completion event resolves, else ``None``."""
    key = COMPLETION_KEYS.get(event_type_of(event))
    if key is None:
        return None
    value = event.get(key)
    return None if value is None else int(value)
