"""Connections (``Connections`` table, PK org id, RK connection id).

Connection row properties (the sync engine maintains the last three)::

    kind="connection", dataset, name, nameKey, account, container, prefix, state,
    createdAt, updatedAt (DateTime), lastTest (JSON), lastPreviewTotal (Int64, optional),
    activeRunId ("" when no run holds the connection), activeRunSince (DateTime of the claim),
    assetCounts (JSON {synced, skipped, removed, ignored}),
    lastSync (JSON {runId, status, finishedAt, counts}),
    assetsGeneration (Int64, optional): bumped by every writer of the connection's ``Assets``
    rows outside a sync run, after its write (see ``bump_assets_generation``)

Names are unique per dataset (case-insensitive): each connection owns a reservation row in the
same partition, RK ``~name~<dataset>~<key>``, written in the same entity-group transaction as
the connection, so two concurrent creations with one name cannot both succeed. Guarded writes
(rename, re-scope, delete) carry the row's ETag, so a sync that claims ``activeRunId`` in
between makes them re-read and refuse.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableTransactionError,
    UpdateMode,
)

from shared.errors import ConflictError, NotFoundError
from shared.naming import connection_name_key, require_connection_id
from shared.store._common import as_datetime, as_int, json_object, utcnow
from shared.store.orgs import OrganizationRepository

__all__ = [
    "CHANGE_ATTEMPTS",
    "PROVIDER",
    "AssetCounts",
    "Connection",
    "ConnectionRepository",
    "ConnectionState",
    "release_connection",
    "require_connection",
    "until_unchanged",
]

PROVIDER = "azure_blob"
_KIND_CONNECTION = "connection"
_KIND_NAME = "name"


T = TypeVar("T")


class ConnectionState(str, Enum):
    #: Created; the connection test has not passed yet.
    AWAITING_TEST = "awaiting_test"
    #: The last test passed (possibly with warnings).
    READY = "ready"
    #: The last test failed.
    NEEDS_ATTENTION = "needs_attention"
    #: Being removed (its asset and run rows are being deleted).
    DELETING = "deleting"


@dataclass(frozen=True)
class AssetCounts:
    synced: int = 0
    skipped: int = 0
    removed: int = 0
    ignored: int = 0

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> AssetCounts:
        value = value or {}
        return cls(
            *(max(0, as_int(value.get(k))) for k in ("synced", "skipped", "removed", "ignored"))
        )

    def to_json(self) -> dict[str, int]:
        return {
            "synced": self.synced,
            "skipped": self.skipped,
            "removed": self.removed,
            "ignored": self.ignored,
        }


@dataclass(frozen=True)
class Connection:
    org_id: str
    connection_id: str
    dataset: str
    name: str
    account: str
    container: str
    prefix: str
    state: ConnectionState
    created_at: datetime
    updated_at: datetime
    last_test: dict[str, Any] | None = None
    last_sync: dict[str, Any] | None = None
    asset_counts: AssetCounts = field(default_factory=AssetCounts)
    active_run_id: str = ""
    #: When ``active_run_id`` was claimed (None on rows written before claims were timed).
    active_run_since: datetime | None = None
    last_preview_total: int | None = None
    #: Bumped by every out-of-run writer of the connection's asset rows; a manifest built at
    #: another generation is not trusted (``shared.sync.manifest``).
    assets_generation: int = 0
    etag: str | None = field(default=None, compare=False)

    @property
    def sync_running(self) -> bool:
        return bool(self.active_run_id)

    def reservation_key(self, name: str | None = None) -> str:
        return _reservation_key(self.dataset, name if name is not None else self.name)


def _reservation_key(dataset: str, name: str) -> str:
    return f"~name~{dataset}~{connection_name_key(name)}"


def _name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"a connection named '{name}' already exists in this dataset",
        code="connection_name_taken",
    )


def _not_found(connection_id: str) -> NotFoundError:
    return NotFoundError(f"connection {connection_id} does not exist", code="connection_not_found")


class ConnectionRepository:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    # -- reading -------------------------------------------------------------------------------
    @staticmethod
    def _from_entity(entity: Mapping[str, Any]) -> Connection:
        now = utcnow()
        try:
            state = ConnectionState(entity.get("state", ConnectionState.AWAITING_TEST.value))
        except ValueError:
            state = ConnectionState.AWAITING_TEST
        preview = entity.get("lastPreviewTotal")
        metadata = getattr(entity, "metadata", {}) or {}
        return Connection(
            org_id=str(entity["PartitionKey"]),
            connection_id=str(entity["RowKey"]),
            dataset=str(entity.get("dataset", "")),
            name=str(entity.get("name", "")),
            account=str(entity.get("account", "")),
            container=str(entity.get("container", "")),
            prefix=str(entity.get("prefix", "") or ""),
            state=state,
            created_at=as_datetime(entity.get("createdAt"), now),
            updated_at=as_datetime(entity.get("updatedAt"), now),
            last_test=json_object(entity.get("lastTest")),
            last_sync=json_object(entity.get("lastSync")),
            asset_counts=AssetCounts.from_json(json_object(entity.get("assetCounts"))),
            active_run_id=str(entity.get("activeRunId", "") or ""),
            active_run_since=(
                as_datetime(entity.get("activeRunSince"), now)
                if entity.get("activeRunSince")
                else None
            ),
            last_preview_total=None if preview is None else as_int(preview),
            assets_generation=as_int(entity.get("assetsGeneration")),
            etag=metadata.get("etag"),
        )

    def find(self, org_id: str, connection_id: str) -> Connection | None:
        try:
            entity = self._table.get_entity(org_id, connection_id)
        except ResourceNotFoundError:
            return None
        if entity.get("kind", _KIND_CONNECTION) != _KIND_CONNECTION:
            return None
        return self._from_entity(entity)

    def get(self, org_id: str, connection_id: str) -> Connection:
        """The connection, or 404 ``connection_not_found`` — also for another organisation's
        connection, which lives in another partition and is simply not found."""
        found = self.find(org_id, connection_id)
        if found is None:
            raise _not_found(connection_id)
        return found

    def list(self, org_id: str, *, dataset: str | None = None) -> list[Connection]:
        query = "PartitionKey eq @org and kind eq @kind"
        parameters: dict[str, Any] = {"org": org_id, "kind": _KIND_CONNECTION}
        if dataset is not None:
            query += " and dataset eq @dataset"
            parameters["dataset"] = dataset
        rows = [
            self._from_entity(e) for e in self._table.query_entities(query, parameters=parameters)
        ]
        rows.sort(key=lambda c: (c.dataset, c.name.casefold(), c.created_at))
        return rows

    # -- writing -------------------------------------------------------------------------------
    def create(self, connection: Connection) -> Connection:
        """Insert the connection and its name reservation atomically (409 name taken)."""
        entity: dict[str, Any] = {
            "PartitionKey": connection.org_id,
            "RowKey": connection.connection_id,
            "kind": _KIND_CONNECTION,
            "dataset": connection.dataset,
            "name": connection.name,
            "nameKey": connection_name_key(connection.name),
            "account": connection.account,
            "container": connection.container,
            "prefix": connection.prefix,
            "state": connection.state.value,
            "createdAt": connection.created_at,
            "updatedAt": connection.updated_at,
            "lastTest": "",
            "lastSync": "",
            "assetCounts": json.dumps(connection.asset_counts.to_json()),
            "activeRunId": "",
        }
        try:
            self._table.submit_transaction(
                [
                    ("create", entity),
                    ("create", self._reservation(connection, connection.name)),
                ]
            )
        except TableTransactionError as exc:
            if exc.status_code == 409:
                raise _name_taken(connection.name) from None
            raise
        return self.get(connection.org_id, connection.connection_id)

    def _reservation(self, connection: Connection, name: str) -> dict[str, Any]:
        return {
            "PartitionKey": connection.org_id,
            "RowKey": connection.reservation_key(name),
            "kind": _KIND_NAME,
            "connectionId": connection.connection_id,
            "name": name,
        }

    def update_settings(
        self,
        current: Connection,
        *,
        name: str | None = None,
        prefix: str | None = None,
        now: datetime | None = None,
    ) -> Connection:
        """Rename and/or re-scope ``current`` if its row has not changed since it was read.

        Raises ``ConflictError(code="connection_changed")`` when it has (the caller re-reads
        and decides again), 409 ``connection_name_taken`` for a taken name."""
        now = now or utcnow()
        patch: dict[str, Any] = {
            "PartitionKey": current.org_id,
            "RowKey": current.connection_id,
            "updatedAt": now,
        }
        if name is not None:
            patch["name"] = name
            patch["nameKey"] = connection_name_key(name)
        if prefix is not None:
            patch["prefix"] = prefix
        guard = {"etag": current.etag, "match_condition": MatchConditions.IfNotModified}
        operations: list[Any] = [("update", patch, {"mode": UpdateMode.MERGE, **guard})]
        renamed = name is not None and current.reservation_key(name) != current.reservation_key()
        if renamed and name is not None:
            operations.append(("create", self._reservation(current, name)))
            operations.append(
                (
                    "delete",
                    {"PartitionKey": current.org_id, "RowKey": current.reservation_key()},
                )
            )
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as exc:
            if exc.status_code == 409:
                raise _name_taken(name or current.name) from None
            if exc.status_code == 412:
                raise ConflictError("changed meanwhile", code="connection_changed") from None
            if exc.status_code == 404 and exc.index != 2:
                raise _not_found(current.connection_id) from None
            if exc.status_code == 404:
                # The old reservation was already gone: rename without deleting it.
                self._table.submit_transaction(operations[:2])
            else:
                raise
        return self.get(current.org_id, current.connection_id)

    def merge(
        self,
        current: Connection,
        fields: Mapping[str, Any],
        *,
        guarded: bool = True,
    ) -> Connection:
        """Merge ``fields`` into the row; ``guarded`` writes only if the ETag still matches
        (``ConflictError(code="connection_changed")`` otherwise)."""
        patch = {"PartitionKey": current.org_id, "RowKey": current.connection_id, **fields}
        try:
            if guarded:
                self._table.update_entity(
                    patch,
                    mode=UpdateMode.MERGE,
                    etag=current.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            else:
                self._table.update_entity(patch, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            raise _not_found(current.connection_id) from None
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise ConflictError("changed meanwhile", code="connection_changed") from None
            raise
        return self.get(current.org_id, current.connection_id)

    def claim_run(self, current: Connection, run_id: str, now: datetime | None = None) -> None:
        """Make ``run_id`` the connection's active run if the row is unchanged since ``current``
        was read and no run holds it. ``ConflictError(code="connection_changed")`` when another
        writer got there first: the caller re-reads and decides again (never with a stale ETag).
        """
        if current.active_run_id:
            raise ConflictError("a run holds the connection", code="connection_changed")
        self.merge(current, {"activeRunId": run_id, "activeRunSince": now or utcnow()})

    def record_test(
        self,
        current: Connection,
        report: Mapping[str, Any],
        state: ConnectionState,
        now: datetime | None = None,
    ) -> Connection:
        return self.merge(
            current,
            {
                "lastTest": json.dumps(report, separators=(",", ":")),
                "state": state.value,
                "updatedAt": now or utcnow(),
            },
        )

    def record_preview(self, current: Connection, total: int) -> Connection:
        """Remember the last preview's blob count; the sync engine uses it as the first
        estimate of a run's total."""
        return self.merge(
            current,
            {"lastPreviewTotal": EntityProperty(total, EdmType.INT64)},
            guarded=False,
        )

    def bump_assets_generation(self, org_id: str, connection_id: str) -> int:
        """Record that the connection's ``Assets`` rows changed outside a sync run.

        The rule for every such writer (blob events, repairs, imports): write the rows first,
        then call this (ETag-guarded, retried on a concurrent change); if it fails, fail the
        request so the writer retries. The next sync then rebuilds its snapshot from the table
        instead of trusting the manifest the last run left. Returns the new generation."""

        def step() -> int:
            current = self.get(org_id, connection_id)
            value = current.assets_generation + 1
            self.merge(current, {"assetsGeneration": EntityProperty(value, EdmType.INT64)})
            return value

        return until_unchanged(step)

    def remove(self, current: Connection) -> None:
        """Delete the name reservation, then the row (idempotent)."""
        for row_key in (current.reservation_key(), current.connection_id):
            self._table.delete_entity(current.org_id, row_key)


#: How many read-decide-write rounds a guarded change of a connection row gets.
CHANGE_ATTEMPTS = 20


def until_unchanged(step: Callable[[], T], *, attempts: int = CHANGE_ATTEMPTS) -> T:
    """Run ``step`` (read the row, decide, write with its ETag) until no concurrent change
    refuses its write (``ConflictError(code="connection_changed")``). When the row keeps
    changing, raise ``ConflictError(code="connection_busy")`` with a retry-after."""
    for _ in range(attempts):
        try:
            return step()
        except ConflictError as exc:
            if exc.code != "connection_changed":
                raise
    raise ConflictError(
        "the connection keeps changing; try again", code="connection_busy", retry_after=2
    )


def release_connection(
    connections: ConnectionRepository,
    org: str,
    connection_id: str,
    run_id: str,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Clear ``activeRunId`` if this run still holds it, and merge ``extra`` fields."""

    def step() -> None:
        row = connections.find(org, connection_id)
        if row is None:
            return  # the connection was deleted meanwhile
        patch: dict[str, Any] = dict(extra or {})
        if row.active_run_id == run_id:
            patch["activeRunId"] = ""
        if patch:
            with contextlib.suppress(NotFoundError):
                connections.merge(row, patch)

    until_unchanged(step)


def require_connection(
    org_id: str,
    connection_id: str,
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
) -> Connection:
    """The organisation's connection, or 404 (``org_not_found`` / ``connection_not_found``)."""
    orgs.require(org_id)
    require_connection_id(connection_id)
    return connections.get(org_id, connection_id)
