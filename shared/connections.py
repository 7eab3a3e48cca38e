"""The use cases behind wizard step 1 and the Connection Manager: create, list, read, rename or
re-scope, remove a connection, and show its setup instructions again.

Plain functions taking their collaborators as keyword arguments; ``api/connections.py`` only
parses the request and shapes the response. Every function first checks the organisation
exists; a connection is always looked up inside its organisation's partition, so another
organisation's connection is a 404 like a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, cast

from azure.data.tables import TableClient

from shared.diagnostics import ConnectionTestReport
from shared.errors import ConflictError, FieldError, ValidationError
from shared.naming import (
    check_connection_name,
    check_container,
    check_dataset_id,
    check_prefix,
    check_storage_account,
    new_connection_id,
)
from shared.settings import Settings
from shared.setup_instructions import SetupInstructions, build_setup_instructions
from shared.store._common import iso, utcnow
from shared.store.cleanup import DeletedRows, delete_connection_rows
from shared.store.connections import (
    PROVIDER,
    Connection,
    ConnectionRepository,
    ConnectionState,
    require_connection,
    until_unchanged,
)
from shared.store.orgs import OrganizationRepository

__all__ = [
    "AssetCountsWire",
    "ConnectionLinks",
    "ConnectionList",
    "ConnectionView",
    "CreatedConnection",
    "connection_view",
    "create_connection",
    "delete_connection",
    "get_connection",
    "list_connections",
    "require_connection",
    "setup_instructions",
    "update_connection",
]

_CREATE_FIELDS = ("dataset", "name", "storageAccount", "container", "prefix")
_EDITABLE = ("name", "prefix")
_NOT_EDITABLE = ("dataset", "storageAccount", "container", "provider", "id")


class AssetCountsWire(TypedDict):
    synced: int
    skipped: int
    removed: int
    ignored: int


class ConnectionLinks(TypedDict):
    self: str
    setup: str
    test: str
    preview: str
    syncs: str
    assets: str


class ConnectionView(TypedDict):
    id: str
    org: str
    dataset: str
    name: str
    provider: str
    account: str
    container: str
    prefix: str
    #: The stored state: awaiting_test, ready, needs_attention, deleting.
    state: str
    #: What the Connection Manager shows: the state, or ``syncing`` while a run is active.
    status: str
    activeRunId: str | None
    assetCounts: AssetCountsWire
    lastTest: ConnectionTestReport | None
    lastSync: dict[str, Any] | None
    createdAt: str
    updatedAt: str
    links: ConnectionLinks


class CreatedConnection(TypedDict):
    connection: ConnectionView
    setup: SetupInstructions


class ConnectionList(TypedDict):
    items: list[ConnectionView]
    count: int


def connection_path(org_id: str, connection_id: str) -> str:
    return f"/api/orgs/{org_id}/connections/{connection_id}"


def connection_view(connection: Connection) -> ConnectionView:
    base = connection_path(connection.org_id, connection.connection_id)
    status = "syncing" if connection.sync_running else connection.state.value
    if connection.state is ConnectionState.DELETING:
        status = ConnectionState.DELETING.value
    counts = connection.asset_counts
    return ConnectionView(
        id=connection.connection_id,
        org=connection.org_id,
        dataset=connection.dataset,
        name=connection.name,
        provider=PROVIDER,
        account=connection.account,
        container=connection.container,
        prefix=connection.prefix,
        state=connection.state.value,
        status=status,
        activeRunId=connection.active_run_id or None,
        assetCounts=AssetCountsWire(
            synced=counts.synced,
            skipped=counts.skipped,
            removed=counts.removed,
            ignored=counts.ignored,
        ),
        lastTest=cast(ConnectionTestReport | None, connection.last_test),
        lastSync=connection.last_sync,
        createdAt=iso(connection.created_at),
        updatedAt=iso(connection.updated_at),
        links=ConnectionLinks(
            self=base,
            setup=f"{base}/setup",
            test=f"{base}/test",
            preview=f"{base}/preview",
            syncs=f"{base}/syncs",
            assets=f"{base}/assets",
        ),
    )


def _unknown_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> list[FieldError]:
    errors = []
    for key in body:
        if key in _NOT_EDITABLE and key not in allowed:
            errors.append(
                FieldError(
                    key,
                    "not_editable",
                    "cannot be changed; create a new connection for another container",
                )
            )
        elif key not in allowed:
            errors.append(FieldError(key, "unknown_field", "is not a known field"))
    return errors


def _refuse_if_busy(connection: Connection) -> None:
    if connection.state is ConnectionState.DELETING:
        raise ConflictError(
            "this connection is being removed", code="connection_deleting", retry_after=5
        )
    if connection.sync_running:
        raise ConflictError(
            f"sync run {connection.active_run_id} of this connection is running; wait for it "
            "to finish or cancel it first",
            code="sync_running",
            extra={"runId": connection.active_run_id},
            retry_after=30,
        )


def create_connection(
    org_id: str,
    body: Mapping[str, Any],
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
    settings: Settings,
    now: datetime | None = None,
) -> CreatedConnection:
    """Wizard step 1: validate the blob details and store the connection."""
    org = orgs.require(org_id)
    org.require_paid_plan()
    errors = _unknown_fields(body, _CREATE_FIELDS)
    dataset, e1 = check_dataset_id(body.get("dataset"))
    name, e2 = check_connection_name(body.get("name"))
    account, e3 = check_storage_account(body.get("storageAccount"))
    container, e4 = check_container(body.get("container"))
    prefix, e5 = check_prefix(body.get("prefix"))
    errors += e1 + e2 + e3 + e4 + e5
    if errors:
        raise ValidationError(errors)
    now = now or utcnow()
    created = connections.create(
        Connection(
            org_id=org.org_id,
            connection_id=new_connection_id(),
            dataset=dataset,
            name=name,
            account=account,
            container=container,
            prefix=prefix,
            state=ConnectionState.AWAITING_TEST,
            created_at=now,
            updated_at=now,
        )
    )
    return CreatedConnection(
        connection=connection_view(created),
        setup=_setup(created, settings),
    )


def _setup(connection: Connection, settings: Settings) -> SetupInstructions:
    return build_setup_instructions(
        account=connection.account,
        container=connection.container,
        app_id=settings.platform_app_id,
        app_name=settings.platform_app_name,
        origin=settings.platform_origin,
    )


def setup_instructions(
    org_id: str,
    connection_id: str,
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
    settings: Settings,
) -> SetupInstructions:
    connection = require_connection(org_id, connection_id, orgs=orgs, connections=connections)
    return _setup(connection, settings)


def list_connections(
    org_id: str,
    *,
    dataset: str | None,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
) -> ConnectionList:
    orgs.require(org_id)
    if dataset is not None:
        dataset, errors = check_dataset_id(dataset)
        if errors:
            raise ValidationError(errors)
    items = [connection_view(c) for c in connections.list(org_id, dataset=dataset)]
    return ConnectionList(items=items, count=len(items))


def get_connection(
    org_id: str,
    connection_id: str,
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
) -> ConnectionView:
    return connection_view(
        require_connection(org_id, connection_id, orgs=orgs, connections=connections)
    )


def update_connection(
    org_id: str,
    connection_id: str,
    body: Mapping[str, Any],
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
    now: datetime | None = None,
) -> ConnectionView:
    """Rename and/or change the prefix; refused (409 ``sync_running``) while a sync runs."""
    errors = _unknown_fields(body, _EDITABLE)
    name: str | None = None
    prefix: str | None = None
    if "name" in body:
        name, found = check_connection_name(body["name"])
        errors += found
    if "prefix" in body:
        prefix, found = check_prefix(body["prefix"] if body["prefix"] is not None else "")
        errors += found
    if not errors and name is None and prefix is None:
        errors.append(FieldError("body", "required", "send 'name' and/or 'prefix'"))
    if errors:
        raise ValidationError(errors)

    def step() -> ConnectionView:
        current = require_connection(org_id, connection_id, orgs=orgs, connections=connections)
        _refuse_if_busy(current)
        new_name = name if name is not None and name != current.name else None
        new_prefix = prefix if prefix is not None and prefix != current.prefix else None
        if new_name is None and new_prefix is None:
            return connection_view(current)
        # A sync claiming it or another edit in between refuses the write: decide again.
        return connection_view(
            connections.update_settings(current, name=new_name, prefix=new_prefix, now=now)
        )

    return until_unchanged(step)


def delete_connection(
    org_id: str,
    connection_id: str,
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
    assets: TableClient,
    runs: TableClient,
    now: datetime | None = None,
) -> DeletedRows:
    """Remove the connection, its asset rows and its run rows; refused while a sync runs.

    The row is first marked ``deleting`` (guarded by its ETag, so a sync cannot claim it in
    between unnoticed), then the rows go, then the connection itself; calling again after a
    crash finishes the job."""

    def mark_deleting() -> Connection:
        current = require_connection(org_id, connection_id, orgs=orgs, connections=connections)
        if current.sync_running:
            _refuse_if_busy(current)
        if current.state is ConnectionState.DELETING:
            return current
        # A sync claiming it in between refuses the write: read again and decide.
        return connections.merge(
            current, {"state": ConnectionState.DELETING.value, "updatedAt": now or utcnow()}
        )

    current = until_unchanged(mark_deleting)
    deleted = delete_connection_rows(assets=assets, runs=runs, connection_id=current.connection_id)
    connections.remove(current)
    return deleted
