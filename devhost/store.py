"""Task-hub persistence: the records, the store interface, and an in-memory store for tests.

Three kinds of durable state per orchestration instance, mirroring the Durable Azure Storage
provider (see :mod:`devhost.table_store` for the table layout):

* the **instance row** (status, input, output, custom status, times);
* the **history** of the current execution, appended one episode at a time;
* the **inbox**: messages accepted for the instance but not yet processed by an episode (the
  provider keeps these in its control queues). A message is written here before anything
  acknowledges it, and removed only after the history holding it is committed.

History rows of events that came from the inbox carry the message id, so a restart after a
commit but before the inbox clean-up recognises the message as already processed.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Protocol

from devhost.history import ACTIVE_STATUSES, Event, RuntimeStatus

#: Page size of instance queries when the caller gives no ``top`` (the extension's default).
DEFAULT_PAGE_SIZE = 100
ACTIVE_STATUS_NAMES = tuple(sorted(s.value for s in ACTIVE_STATUSES))


@dataclass
class InstanceRecord:
    instance_id: str
    execution_id: str
    name: str
    runtime_status: RuntimeStatus
    created_time: dt.datetime
    last_updated_time: dt.datetime
    input: str | None = None  # the serialized input (``ExecutionStarted.Input``)
    output: str | None = None  # JSON text (Completed) or the failure / termination text
    custom_status: str | None = None  # JSON text
    completed_time: dt.datetime | None = None
    generation: int = 0

    def copy(self) -> InstanceRecord:
        return replace(self)


@dataclass
class StoredMessage:
    """An inbox message: a history event for the instance, not yet processed."""

    message_id: str  # sortable: arrival order
    event: Event
    execution_id: str | None = None  # None: for whichever execution is current

    def copy(self) -> StoredMessage:
        return StoredMessage(self.message_id, copy.deepcopy(self.event), self.execution_id)


@dataclass
class StoredHistory:
    events: list[Event] = field(default_factory=list)
    #: For each event, the inbox message it came from (``None`` for decisions).
    message_ids: list[str | None] = field(default_factory=list)


@dataclass(frozen=True)
class InstanceQuery:
    runtime_status: frozenset[RuntimeStatus] | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    instance_id_prefix: str | None = None
    top: int = DEFAULT_PAGE_SIZE
    continuation_token: str | None = None

    def matches(self, record: InstanceRecord) -> bool:
        if self.runtime_status and record.runtime_status not in self.runtime_status:
            return False
        if self.created_from and record.created_time < self.created_from:
            return False
        if self.created_to and record.created_time > self.created_to:
            return False
        return not (
            self.instance_id_prefix and not record.instance_id.startswith(self.instance_id_prefix)
        )


class StoreError(Exception):
    """The store failed; the message names the operation."""


class TaskHubStore(Protocol):
    """What the engine needs from persistence. All methods are idempotent where re-run."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    async def put_instance(self, record: InstanceRecord) -> None: ...

    async def query_instances(
        self, query: InstanceQuery
    ) -> tuple[list[InstanceRecord], str | None]: ...

    async def list_active_instances(self) -> list[InstanceRecord]: ...

    async def read_history(self, instance_id: str, execution_id: str) -> StoredHistory: ...

    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        first_index: int,
        events: list[Event],
        message_ids: list[str | None],
    ) -> None: ...

    async def delete_history(self, instance_id: str, from_index: int = 0) -> None: ...

    async def add_messages(self, instance_id: str, messages: list[StoredMessage]) -> None: ...

    async def read_messages(self, instance_id: str) -> list[StoredMessage]: ...

    async def delete_messages(self, instance_id: str, message_ids: list[str]) -> None: ...

    async def purge(self, instance_id: str) -> bool: ...


def encode_offset_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.b64decode(token))
    except ValueError:
        return 0
    return int(data.get("offset", 0)) if isinstance(data, dict) else 0


class MemoryStore:
    """A :class:`TaskHubStore` in process memory (unit tests; state is lost on exit).

    Values are copied in and out so the engine can never mutate what was "persisted".
    """

    def __init__(self) -> None:
        self.instances: dict[str, InstanceRecord] = {}
        self.history: dict[str, tuple[str, list[tuple[str, str | None]]]] = {}
        self.messages: dict[str, dict[str, StoredMessage]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        record = self.instances.get(instance_id)
        return None if record is None else record.copy()

    async def put_instance(self, record: InstanceRecord) -> None:
        self.instances[record.instance_id] = record.copy()

    async def query_instances(
        self, query: InstanceQuery
    ) -> tuple[list[InstanceRecord], str | None]:
        matching = sorted(
            (r for r in self.instances.values() if query.matches(r)), key=lambda r: r.instance_id
        )
        start = decode_offset_token(query.continuation_token)
        page = matching[start : start + query.top]
        more = start + query.top < len(matching)
        return [r.copy() for r in page], encode_offset_token(start + query.top) if more else None

    async def list_active_instances(self) -> list[InstanceRecord]:
        return [r.copy() for r in self.instances.values() if not r.runtime_status.is_terminal]

    async def read_history(self, instance_id: str, execution_id: str) -> StoredHistory:
        stored = self.history.get(instance_id)
        if stored is None or stored[0] != execution_id:
            return StoredHistory()
        return StoredHistory(
            [json.loads(text) for text, _ in stored[1]], [mid for _, mid in stored[1]]
        )

    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        first_index: int,
        events: list[Event],
        message_ids: list[str | None],
    ) -> None:
        stored = self.history.get(instance_id)
        rows = stored[1] if stored is not None and stored[0] == execution_id else []
        del rows[first_index:]
        rows.extend((json.dumps(e), mid) for e, mid in zip(events, message_ids, strict=True))
        self.history[instance_id] = (execution_id, rows)

    async def delete_history(self, instance_id: str, from_index: int = 0) -> None:
        stored = self.history.get(instance_id)
        if stored is None:
            return
        if from_index <= 0:
            del self.history[instance_id]
        else:
            del stored[1][from_index:]

    async def add_messages(self, instance_id: str, messages: list[StoredMessage]) -> None:
        box = self.messages.setdefault(instance_id, {})
        for message in messages:
            box[message.message_id] = message.copy()

    async def read_messages(self, instance_id: str) -> list[StoredMessage]:
        box = self.messages.get(instance_id, {})
        return [box[k].copy() for k in sorted(box)]

    async def delete_messages(self, instance_id: str, message_ids: list[str]) -> None:
        box = self.messages.get(instance_id, {})
        for message_id in message_ids:
            box.pop(message_id, None)

    async def purge(self, instance_id: str) -> bool:
        existed = self.instances.pop(instance_id, None) is not None
        self.history.pop(instance_id, None)
        self.messages.pop(instance_id, None)
        return existed
