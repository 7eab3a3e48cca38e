"""The blob events endpoint for Event Grid: ``/api/events/{org}/{connection}``.

Anonymous at the Functions level: each delivery is authenticated by the connection's event key
in the ``X-Blobsync-Event-Key`` header (a secret delivery attribute of the subscription). The
URL names the connection; events never do. Answers both validation handshakes (Event Grid
schema: echo ``data.validationCode``; CloudEvents: ``OPTIONS`` with ``WebHook-Request-Origin``).
A failure answers 5xx so Event Grid redelivers; applying a delivery twice changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

import azure.durable_functions as df
import azure.functions as func

from api import params
from api.http import http_boundary, json_response
from shared.autosync.events import (
    KEY_HEADER,
    EventAuthError,
    check_event_key,
    handle_delivery,
    parse_deliveries,
)
from shared.autosync.store import AutosyncConfig
from shared.errors import NotFoundError
from shared.store import Connection, ConnectionState, Organization, month_of
from shared.sync.inspector import inspect_entry
from shared.wiring import wiring

bp = df.Blueprint()


def _load(org: str, connection_id: str) -> tuple[Organization, Connection, AutosyncConfig]:
    rt = wiring()
    org_row = rt.orgs.require(org)  # 404 org_not_found, as on every route under an org
    row = rt.connections.get(org, connection_id)  # 404 connection_not_found: no redelivery
    return org_row, row, rt.autosync.get(org, connection_id)


def _charge(org: str, month: str, limit: int, *, key: str, costs: Sequence[int]) -> int:
    """Blocking (an ETag loop on the usage row): called on a worker thread."""
    return wiring().usage.charge(org, month, key=key, costs=costs, limit=limit)


def _run_active(org: str, connection_id: str) -> bool:
    return bool(wiring().connections.get(org, connection_id).active_run_id)


@bp.route(
    route="events/{org}/{connection}",
    methods=["POST", "OPTIONS"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
@http_boundary
async def events_receive(req: func.HttpRequest) -> func.HttpResponse:
    org, connection_id = params.route_ids(req)
    rt = wiring()
    # Table I/O runs on a worker thread: an async route never blocks the event loop.
    org_row, row, config = await asyncio.to_thread(_load, org, connection_id)
    if req.method == "OPTIONS":  # the CloudEvents webhook validation handshake
        origin = req.headers.get("WebHook-Request-Origin", "")
        if not origin or not config.events_enabled:
            raise NotFoundError("no event endpoint here", code="events_not_enabled")
        return func.HttpResponse(
            status_code=200,
            headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"},
        )
    batch = parse_deliveries(req.get_body(), req.headers.get("content-type", ""))
    presented = req.headers.get(KEY_HEADER)
    if batch.validation_code is not None:  # the Event Grid schema handshake
        if not config.events_enabled:
            raise EventAuthError("events are not enabled for this connection")
        if presented:
            check_event_key(presented, config.event_key_hash)
        return json_response({"validationResponse": batch.validation_code})
    check_event_key(presented, config.event_key_hash)
    if row.state is ConnectionState.DELETING:
        return json_response(
            {"counts": {"received": len(batch.events), "ignored": len(batch.events)}}
        )
    org_row.require_paid_plan()
    month = month_of()

    charge = functools.partial(_charge, org, month, org_row.monthly_quota)
    async with (
        rt.storage.container_client(row.account, row.container) as cc,
        rt.assets_async() as assets,
    ):
        counts = await handle_delivery(
            batch.events,
            connection=row,
            still_active=functools.partial(_run_active, org, connection_id),
            repo=rt.autosync,
            connections=rt.connections,
            container=cc,
            assets=assets,
            inspector=inspect_entry,
            charge=charge,
            rows_per_kind=rt.rows_per_kind,
            concurrency=rt.settings.sync_read_concurrency,
        )
    return json_response({"counts": counts})
