"""The Azure Tables mirror on a real Azurite: provider layout, key escaping, batching, offload."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from devhost.azurite import EmulatorAccount
from devhost.config import StorageConnection
from devhost.history import (
    EventType,
    RuntimeStatus,
    execution_started,
    new_event,
    with_null_fields,
)
from devhost.store import InstanceQuery, InstanceRecord, StoredMessage
from devhost.table_store import MAX_INLINE_CHARS, TableStore, escape_key, unescape_key

from .conftest import new_hub_name

T = TypeVar("T")
NOW = dt.datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)


def with_store(account: EmulatorAccount, hub: str, body: Callable[[TableStore], Awaitable[T]]) -> T:
    async def main() -> T:
        store = TableStore(StorageConnection.parse(account.connection_string), hub)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_keys_are_escaped_like_dtfx() -> None:
    raw = "run/2024#1?x\\y^z\tq"
    escaped = escape_key(raw)
    assert escaped == "run^02024^21^3x^1y^^z^" + chr(0xC0 + 9) + "q"
    assert unescape_key(escaped) == raw


def test_history_is_batched_offloaded_and_read_back(platform_account: EmulatorAccount) -> None:
    hub = new_hub_name()
    instance_id = "orders/42#retry"  # '/' would be a 500 from Azurite unescaped
    big = "x" * (MAX_INLINE_CHARS + 5000)
    events = [
        new_event(EventType.ORCHESTRATOR_STARTED, at=NOW),
        execution_started(
            instance_id=instance_id,
            execution_id="e1",
            name="orch",
            input_json=json.dumps(big),
            at=NOW,
        ),
    ]
    events += [
        new_event(EventType.TASK_SCHEDULED, event_id=i, at=NOW, Name="work", Input='["1"]')
        for i in range(230)
    ]
    events.append(new_event(EventType.ORCHESTRATOR_COMPLETED, at=NOW))
    message_ids: list[str | None] = [None, "m-1"] + [None] * 231

    async def body(store: TableStore) -> None:
        await store.append_history(instance_id, "e1", 0, events, message_ids)
        back = await store.read_history(instance_id, "e1")
        # equal, including the 37 K-character input, timestamps and null fields
        assert back.events == [with_null_fields(dict(e)) for e in events]
        assert back.events[1]["Version"] is None  # the SDK reads it unconditionally
        assert back.message_ids == message_ids
        assert (await store.read_history(instance_id, "another-execution")).events == []
        await store.delete_history(instance_id, from_index=200)
        assert len((await store.read_history(instance_id, "e1")).events) == 200

    with_store(platform_account, hub, body)

    tables = TableServiceClient.from_connection_string(platform_account.connection_string)
    rows = list(tables.get_table_client(f"{hub}History").list_entities())
    by_key = {r["RowKey"]: r for r in rows}
    assert "sentinel" in by_key and by_key["sentinel"]["ExecutionId"] == "e1"
    started = by_key["0000000000000001"]
    assert started["PartitionKey"] == "orders^042^2retry"
    assert started["EventType"] == "ExecutionStarted"
    assert started["Input"] == "" and started["InputBlobName"].startswith(instance_id)
    assert started["_Timestamp"] == NOW
    blobs = BlobServiceClient.from_connection_string(platform_account.connection_string)
    container = blobs.get_container_client(f"{hub.lower()}-largemessages")
    assert [b.name for b in container.list_blobs()] == [started["InputBlobName"]]


def test_instances_query_pages_and_purge(platform_account: EmulatorAccount) -> None:
    hub = new_hub_name()

    def record(n: int, status: RuntimeStatus) -> InstanceRecord:
        return InstanceRecord(
            instance_id=f"{'run' if n % 2 else 'job'}-{n:02d}",
            execution_id=f"e{n}",
            name="orch",
            runtime_status=status,
            created_time=NOW + dt.timedelta(minutes=n),
            last_updated_time=NOW + dt.timedelta(minutes=n),
            input=json.dumps(json.dumps({"n": n})),
            custom_status=json.dumps({"n": n}),
        )

    async def body(store: TableStore) -> None:
        for n in range(12):
            status = RuntimeStatus.COMPLETED if n < 8 else RuntimeStatus.RUNNING
            await store.put_instance(record(n, status))
        page, token = await store.query_instances(InstanceQuery(instance_id_prefix="run-", top=4))
        assert [r.instance_id for r in page] == ["run-01", "run-03", "run-05", "run-07"]
        assert token is not None
        rest, token = await store.query_instances(
            InstanceQuery(instance_id_prefix="run-", top=4, continuation_token=token)
        )
        assert [r.instance_id for r in rest] == ["run-09", "run-11"] and token is None
        running, _ = await store.query_instances(
            InstanceQuery(runtime_status=frozenset({RuntimeStatus.RUNNING}))
        )
        assert sorted(r.instance_id for r in running) == ["job-08", "job-10", "run-09", "run-11"]
        recent, _ = await store.query_instances(
            InstanceQuery(created_from=NOW + dt.timedelta(minutes=10))
        )
        assert sorted(r.instance_id for r in recent) == ["job-10", "run-11"]
        active = await store.list_active_instances()
        assert len(active) == 4
        await store.add_messages(
            "job-00", [StoredMessage("0001", new_event(EventType.EVENT_RAISED, Name="x"))]
        )
        assert await store.purge("job-00") is True
        assert await store.get_instance("job-00") is None
        assert await store.read_messages("job-00") == []
        assert await store.purge("job-00") is False

    with_store(platform_account, hub, body)
