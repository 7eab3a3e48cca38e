"""Task-hub state in Azure Tables (Azurite locally), laid out like the Durable Azure Storage provider.

Tables (``{Hub}`` = the task hub name), so Storage Explorer shows runs as it does in Azure:

``{Hub}Instances``
    PartitionKey = escaped instance id, RowKey ``""``; ``ExecutionId, Name, Version, Input, Output,
    CustomStatus, CreatedTime, LastUpdatedTime, CompletedTime, RuntimeStatus, Generation,
    TaskHubName``.
``{Hub}History``
    PartitionKey = escaped instance id, RowKey = 16 hex digits (event sequence number);
    ``ExecutionId, EventType`` (name), ``EventId, IsPlayed, _Timestamp`` and the event's own fields
    (``Name, Input, Result, TaskScheduledId, TimerId, FireAt, Reason, Details, ...``); complex fields
    as JSON text. One ``sentinel`` row per instance (``ExecutionId, IsCheckpointComplete,
    CheckpointCompletedTimestamp``). Rows of events taken from the inbox also carry ``MessageId``.
``{Hub}Inbox``
    The dev host's stand-in for the provider's control queues (Azurite has no queue client in this
    project): PartitionKey = escaped instance id, RowKey = message id (arrival order);
    ``ExecutionId, EventType, Event`` (the event as JSON).

Keys are escaped like DTFx ``KeySanitation`` (``^``, ``/``, ``\\``, ``#``, ``?`` and control
characters). History is written in transactions of at most 99 events plus the sentinel (DTFx's
batch size) and under 4 MiB; string properties over 32 K characters go gzip-compressed to the
``{hub}-largemessages`` container with a ``<Property>BlobName`` column, as the provider does.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob.aio import BlobServiceClient

from devhost.config import StorageConnection
from devhost.history import (
    UTC,
    Event,
    EventType,
    RuntimeStatus,
    format_timestamp,
    parse_timestamp,
    with_null_fields,
)
from devhost.store import (
    ACTIVE_STATUS_NAMES,
    InstanceQuery,
    InstanceRecord,
    StoredHistory,
    StoredMessage,
)

logger = logging.getLogger(__name__)

SENTINEL_ROW_KEY = "sentinel"
#: Strings longer than this (in characters) are offloaded: a property holds at most 64 KiB UTF-16.
MAX_INLINE_CHARS = 32 * 1024
MAX_EVENTS_PER_BATCH = 99
MAX_BATCH_BYTES = 3 * 1024 * 1024
BLOB_API_VERSION = "2023-11-03"

_JSON_FIELDS = frozenset(
    {"OrchestrationInstance", "ParentInstance", "FailureDetails", "Tags", "Correlation"}
)
_TIME_FIELDS = frozenset({"FireAt", "ScheduledStartTime", "ScheduledTime"})
_ROW_COLUMNS = frozenset(
    {"PartitionKey", "RowKey", "Timestamp", "ExecutionId", "MessageId", "EventType", "_Timestamp"}
)
_ESCAPES = {"^": "^^", "/": "^0", "\\": "^1", "#": "^2", "?": "^3"}
_UNESCAPES = {"^": "^", "0": "/", "1": "\\", "2": "#", "3": "?"}
_SHIFT = 0xC0  # DTFx shifts control characters by 'À'


def escape_key(value: str) -> str:
    """DTFx ``KeySanitation.EscapePartitionKey``."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code <= 0x1F or 0x7F <= code <= 0x9F:
            out.append("^" + chr(_SHIFT + code))
        else:
            out.append(ch)
    return "".join(out)


def unescape_key(value: str) -> str:
    out = []
    chars = iter(value)
    for ch in chars:
        if ch != "^":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if nxt in _UNESCAPES:
            out.append(_UNESCAPES[nxt])
        else:
            out.append(chr(ord(nxt) - _SHIFT) if nxt and ord(nxt) >= _SHIFT else nxt)
    return "".join(out)


def history_row_key(index: int) -> str:
    return f"{index:016X}"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, EntityProperty) else value


def _entity_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if -(2**31) <= value < 2**31:
        return value
    return EntityProperty(value, EdmType.INT64)


def event_to_entity(
    event: Event, *, partition_key: str, row_key: str, execution_id: str, message_id: str | None
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition_key,
        "RowKey": row_key,
        "ExecutionId": execution_id,
        "EventType": EventType(int(event["EventType"])).wire_name,
        "_Timestamp": parse_timestamp(str(event["Timestamp"])),
    }
    if message_id is not None:
        entity["MessageId"] = message_id
    for key, value in event.items():
        if key in ("EventType", "Timestamp") or value is None:
            continue
        if key == "OrchestrationStatus" and isinstance(value, int):
            entity[key] = _status_name(value)
        elif key in _TIME_FIELDS and isinstance(value, str):
            entity[key] = parse_timestamp(value)
        elif isinstance(value, (dict, list)):
            entity[key] = json.dumps(value)
        else:
            entity[key] = _entity_value(value)
    return entity


def entity_to_event(entity: dict[str, Any]) -> Event:
    event: Event = {
        "EventType": int(EventType.from_wire_name(str(entity["EventType"]))),
        "EventId": int(_plain(entity.get("EventId", -1))),
        "IsPlayed": bool(entity.get("IsPlayed", False)),
        "Timestamp": format_timestamp(entity["_Timestamp"]),
    }
    for key, raw in entity.items():
        value = _plain(raw)
        if key in _ROW_COLUMNS or key in event or key.endswith("BlobName"):
            continue
        if key == "OrchestrationStatus" and isinstance(value, str):
            event[key] = RuntimeStatus(value).code
        elif key in _TIME_FIELDS and isinstance(value, dt.datetime):
            event[key] = format_timestamp(value)
        elif key in _JSON_FIELDS and isinstance(value, str):
            event[key] = json.loads(value)
        else:
            event[key] = value
    return with_null_fields(event)


def _status_name(code: int) -> str:
    for status in RuntimeStatus:
        if status.code == code:
            return status.value
    return str(code)


def _entity_bytes(entity: dict[str, Any]) -> int:
    total = 64
    for key, value in entity.items():
        total += 2 * len(key) + 8
        if isinstance(value, str):
            total += 2 * len(value)
        else:
            total += 16
    return total


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.b64encode(json.dumps(token).encode()).decode()


def _decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        data = json.loads(base64.b64decode(token))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _identity_credential(connection: StorageConnection) -> AsyncTokenCredential:
    """The host's identity, as the Functions host picks it for ``__credential`` / ``__clientId``."""
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if connection.credential == "managedidentity":
        return ManagedIdentityCredential(client_id=connection.client_id or None)
    return DefaultAzureCredential(managed_identity_client_id=connection.client_id or None)


class TableStore:
    """:class:`devhost.store.TaskHubStore` on Azure Tables + Blobs (Azurite or Azure)."""

    def __init__(self, connection: StorageConnection, hub_name: str) -> None:
        self.connection = connection
        self.hub_name = hub_name
        self.instances_table_name = f"{hub_name}Instances"
        self.history_table_name = f"{hub_name}History"
        self.inbox_table_name = f"{hub_name}Inbox"
        self.large_messages_container = f"{hub_name.lower()}-largemessages"
        self._tables: TableServiceClient | None = None
        self._blobs: BlobServiceClient | None = None
        self._credential: AsyncTokenCredential | None = None
        self._container_ready = False

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        if self.connection.uses_identity:  # AzureWebJobsStorage__* forms: bearer tokens
            credential = _identity_credential(self.connection)
            self._credential = credential
            self._tables = TableServiceClient(self.connection.table_endpoint, credential=credential)
            self._blobs = BlobServiceClient(
                self.connection.blob_endpoint, credential=credential, api_version=BLOB_API_VERSION
            )
        else:
            self._tables = TableServiceClient.from_connection_string(
                self.connection.connection_string
            )
            self._blobs = BlobServiceClient.from_connection_string(
                self.connection.connection_string, api_version=BLOB_API_VERSION
            )
        for name in (self.instances_table_name, self.history_table_name, self.inbox_table_name):
            await self._tables.create_table_if_not_exists(name)

    async def close(self) -> None:
        if self._tables is not None:
            await self._tables.close()
        if self._blobs is not None:
            await self._blobs.close()
        if self._credential is not None:
            await self._credential.close()
        self._tables = self._blobs = None
        self._credential = None

    def _table(self, name: str) -> TableClient:
        if self._tables is None:
            raise RuntimeError("TableStore is not open")
        return self._tables.get_table_client(name)

    @property
    def _instances(self) -> TableClient:
        return self._table(self.instances_table_name)

    @property
    def _history(self) -> TableClient:
        return self._table(self.history_table_name)

    @property
    def _inbox(self) -> TableClient:
        return self._table(self.inbox_table_name)

    # -- large values ----------------------------------------------------------------------
    async def _offload(self, entity: dict[str, Any], blob_stem: str) -> None:
        for key in list(entity):
            value = entity[key]
            if not isinstance(value, str) or len(value) <= MAX_INLINE_CHARS:
                continue
            blob_name = f"{blob_stem}-{key}.json.gz"  # deterministic: rewrites overwrite
            await self._upload(blob_name, gzip.compress(value.encode("utf-8")))
            entity[key] = ""
            entity[f"{key}BlobName"] = blob_name

    async def _upload(self, blob_name: str, data: bytes) -> None:
        if self._blobs is None:
            raise RuntimeError("TableStore is not open")
        container = self._blobs.get_container_client(self.large_messages_container)
        if not self._container_ready:
            with contextlib.suppress(ResourceExistsError):
                await container.create_container()
            self._container_ready = True
        await container.upload_blob(blob_name, data, overwrite=True)

    async def _restore(self, entity: dict[str, Any]) -> dict[str, Any]:
        for key in [k for k in entity if k.endswith("BlobName")]:
            blob_name = _plain(entity[key])
            if not blob_name or self._blobs is None:
                continue
            blob = self._blobs.get_blob_client(self.large_messages_container, blob_name)
            downloader = await blob.download_blob()
            entity[key[: -len("BlobName")]] = gzip.decompress(await downloader.readall()).decode()
        return entity

    async def _delete_blobs(self, instance_id: str) -> None:
        if self._blobs is None:
            return
        container = self._blobs.get_container_client(self.large_messages_container)
        try:
            async for blob in container.list_blobs(name_starts_with=f"{instance_id}/"):
                await container.delete_blob(blob.name)
        except ResourceNotFoundError:
            return

    # -- instances -------------------------------------------------------------------------
    def _record_to_entity(self, record: InstanceRecord) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": escape_key(record.instance_id),
            "RowKey": "",
            "ExecutionId": record.execution_id,
            "Name": record.name,
            "Version": "",
            "RuntimeStatus": record.runtime_status.value,
            "CreatedTime": record.created_time,
            "LastUpdatedTime": record.last_updated_time,
            "Generation": record.generation,
            "TaskHubName": self.hub_name,
        }
        for key, value in (
            ("Input", record.input),
            ("Output", record.output),
            ("CustomStatus", record.custom_status),
            ("CompletedTime", record.completed_time),
        ):
            if value is not None:
                entity[key] = value
        return entity

    async def _entity_to_record(self, entity: dict[str, Any]) -> InstanceRecord:
        entity = await self._restore(dict(entity))

        def text(key: str) -> str | None:
            value = _plain(entity.get(key))
            return None if value is None else str(value)

        def moment(key: str) -> dt.datetime | None:
            value = _plain(entity.get(key))
            return value.astimezone(UTC) if isinstance(value, dt.datetime) else None

        created = moment("CreatedTime") or dt.datetime.now(UTC)
        return InstanceRecord(
            instance_id=unescape_key(str(entity["PartitionKey"])),
            execution_id=text("ExecutionId") or "",
            name=text("Name") or "",
            runtime_status=RuntimeStatus(text("RuntimeStatus") or "Pending"),
            created_time=created,
            last_updated_time=moment("LastUpdatedTime") or created,
            input=text("Input"),
            output=text("Output"),
            custom_status=text("CustomStatus"),
            completed_time=moment("CompletedTime"),
            generation=int(_plain(entity.get("Generation", 0)) or 0),
        )

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        try:
            entity = await self._instances.get_entity(escape_key(instance_id), "")
        except ResourceNotFoundError:
            return None
        return await self._entity_to_record(dict(entity))

    async def put_instance(self, record: InstanceRecord) -> None:
        entity = self._record_to_entity(record)
        await self._offload(entity, f"{record.instance_id}/instance-{record.execution_id}")
        await self._instances.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def _query_filter(self, query: InstanceQuery) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if query.runtime_status:
            options = []
            for i, status in enumerate(sorted(query.runtime_status, key=lambda s: s.value)):
                params[f"s{i}"] = status.value
                options.append(f"RuntimeStatus eq @s{i}")
            clauses.append("( " + " or ".join(options) + " )")
        if query.created_from is not None:
            params["from"] = query.created_from
            clauses.append("CreatedTime ge @from")
        if query.created_to is not None:
            params["to"] = query.created_to
            clauses.append("CreatedTime le @to")
        if query.instance_id_prefix:
            low = escape_key(query.instance_id_prefix)
            params["plo"], params["phi"] = low, low[:-1] + chr(ord(low[-1]) + 1)
            clauses.append("PartitionKey ge @plo and PartitionKey lt @phi")
        clauses.append("RowKey eq ''")
        return " and ".join(clauses), params

    async def query_instances(
        self, query: InstanceQuery
    ) -> tuple[list[InstanceRecord], str | None]:
        text, params = self._query_filter(query)
        pages = self._instances.query_entities(
            text, parameters=params, results_per_page=query.top
        ).by_page(continuation_token=_decode_token(query.continuation_token))
        records: list[InstanceRecord] = []
        async for page in pages:
            async for entity in page:
                records.append(await self._entity_to_record(dict(entity)))
            break
        return records, _encode_token(getattr(pages, "continuation_token", None))

    async def list_active_instances(self) -> list[InstanceRecord]:
        params = {f"s{i}": name for i, name in enumerate(ACTIVE_STATUS_NAMES)}
        text = " or ".join(f"RuntimeStatus eq @s{i}" for i in range(len(params)))
        return [
            await self._entity_to_record(dict(entity))
            async for entity in self._instances.query_entities(f"( {text} )", parameters=params)
        ]

    # -- history ---------------------------------------------------------------------------
    async def _history_entities(self, instance_id: str) -> AsyncIterator[dict[str, Any]]:
        async for entity in self._history.query_entities(
            "PartitionKey eq @pk", parameters={"pk": escape_key(instance_id)}
        ):
            yield dict(entity)

    async def read_history(self, instance_id: str, execution_id: str) -> StoredHistory:
        rows: list[tuple[str, dict[str, Any]]] = []
        async for entity in self._history_entities(instance_id):
            row_key = str(entity["RowKey"])
            if row_key == SENTINEL_ROW_KEY or entity.get("ExecutionId") != execution_id:
                continue
            rows.append((row_key, entity))
        rows.sort(key=lambda item: item[0])
        history = StoredHistory()
        for _, entity in rows:
            entity = await self._restore(entity)
            history.events.append(entity_to_event(entity))
            message_id = entity.get("MessageId")
            history.message_ids.append(None if message_id is None else str(message_id))
        return history

    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        first_index: int,
        events: list[Event],
        message_ids: list[str | None],
    ) -> None:
        partition = escape_key(instance_id)
        entities = []
        for offset, (event, message_id) in enumerate(zip(events, message_ids, strict=True)):
            index = first_index + offset
            entity = event_to_entity(
                event,
                partition_key=partition,
                row_key=history_row_key(index),
                execution_id=execution_id,
                message_id=message_id,
            )
            event_name = entity["EventType"]
            await self._offload(
                entity, f"{instance_id}/history-{execution_id}-{index:016X}-{event_name}"
            )
            entities.append(entity)
        batches = list(_chunk(entities, MAX_EVENTS_PER_BATCH, MAX_BATCH_BYTES))
        for number, batch in enumerate(batches, start=1):
            final = number == len(batches)
            sentinel: dict[str, Any] = {
                "PartitionKey": partition,
                "RowKey": SENTINEL_ROW_KEY,
                "ExecutionId": execution_id,
                "IsCheckpointComplete": final,
            }
            if final:
                sentinel["CheckpointCompletedTimestamp"] = dt.datetime.now(UTC)
            operations: list[Any] = [
                ("upsert", entity, {"mode": UpdateMode.REPLACE}) for entity in batch
            ]
            operations.append(("upsert", sentinel, {"mode": UpdateMode.REPLACE}))
            await self._history.submit_transaction(operations)

    async def delete_history(self, instance_id: str, from_index: int = 0) -> None:
        keys = []
        async for entity in self._history_entities(instance_id):
            row_key = str(entity["RowKey"])
            if row_key == SENTINEL_ROW_KEY:
                if from_index <= 0:
                    keys.append(row_key)
            elif int(row_key, 16) >= from_index:
                keys.append(row_key)
        await self._delete_rows(self._history, escape_key(instance_id), keys)

    # -- inbox -----------------------------------------------------------------------------
    async def add_messages(self, instance_id: str, messages: list[StoredMessage]) -> None:
        partition = escape_key(instance_id)
        entities = []
        for message in messages:
            entity: dict[str, Any] = {
                "PartitionKey": partition,
                "RowKey": message.message_id,
                "EventType": EventType(int(message.event["EventType"])).wire_name,
                "Event": json.dumps(message.event),
            }
            if message.execution_id is not None:
                entity["ExecutionId"] = message.execution_id
            await self._offload(
                entity, f"{instance_id}/message-{message.message_id}-{entity['EventType']}"
            )
            entities.append(entity)
        for batch in _chunk(entities, 100, MAX_BATCH_BYTES):
            await self._inbox.submit_transaction(
                [("upsert", entity, {"mode": UpdateMode.REPLACE}) for entity in batch]
            )

    async def read_messages(self, instance_id: str) -> list[StoredMessage]:
        messages = []
        async for entity in self._inbox.query_entities(
            "PartitionKey eq @pk", parameters={"pk": escape_key(instance_id)}
        ):
            restored = await self._restore(dict(entity))
            execution_id = restored.get("ExecutionId")
            messages.append(
                StoredMessage(
                    message_id=str(restored["RowKey"]),
                    event=json.loads(restored["Event"]),
                    execution_id=None if execution_id is None else str(execution_id),
                )
            )
        messages.sort(key=lambda m: m.message_id)
        return messages

    async def delete_messages(self, instance_id: str, message_ids: list[str]) -> None:
        await self._delete_rows(self._inbox, escape_key(instance_id), message_ids)

    # -- purge -----------------------------------------------------------------------------
    async def purge(self, instance_id: str) -> bool:
        partition = escape_key(instance_id)
        existed = await self.get_instance(instance_id) is not None
        await self._instances.delete_entity(partition, "")
        await self.delete_history(instance_id)
        inbox_keys = [
            str(e["RowKey"])
            async for e in self._inbox.query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"]
            )
        ]
        await self._delete_rows(self._inbox, partition, inbox_keys)
        await self._delete_blobs(instance_id)
        return existed

    # -- helpers ---------------------------------------------------------------------------
    async def _delete_rows(self, table: TableClient, partition: str, row_keys: list[str]) -> None:
        for batch in _chunk(
            [{"PartitionKey": partition, "RowKey": key} for key in row_keys], 100, MAX_BATCH_BYTES
        ):
            try:
                await table.submit_transaction([("delete", entity) for entity in batch])
            except (TableTransactionError, HttpResponseError):
                # a row is already gone (e.g. an earlier attempt): delete one by one
                for entity in batch:
                    try:
                        await table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                    except ResourceNotFoundError:
                        continue


def _chunk(
    entities: Iterable[dict[str, Any]], max_count: int, max_bytes: int
) -> Iterable[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for entity in entities:
        entity_size = _entity_bytes(entity)
        if batch and (len(batch) >= max_count or size + entity_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(entity)
        size += entity_size
    if batch:
        yield batch
