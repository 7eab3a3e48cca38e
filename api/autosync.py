"""Auto-sync settings of a connection: schedule, blob events, run-end webhook.

``/api/orgs/{org}/connections/{connection}/autosync`` (read), ``.../schedule`` (PUT),
``.../events`` (POST enables and returns the event key once, DELETE disables),
``.../webhook`` (PUT returns the signing secret once, DELETE), ``.../webhook/deliveries``.
"""

from __future__ import annotations

import asyncio
import secrets

import azure.durable_functions as df
import azure.functions as func

from api import params
from api.http import http_boundary, json_response, read_json
from shared.autosync import scheduling, webhooks
from shared.autosync.schedule import parse_schedule
from shared.autosync.setup import events_setup
from shared.store._common import utcnow
from shared.wiring import wiring

bp = df.Blueprint()

_ITEM = "orgs/{org}/connections/{connection}"
_NO_STORE = {"Cache-Control": "no-store"}


def _connection(req: func.HttpRequest) -> tuple[str, str]:
    org, connection = params.route_ids(req)
    wiring().orgs.require(org)
    wiring().connections.get(org, connection)
    return org, connection


def _view(org: str, connection: str) -> dict[str, object]:
    config = wiring().autosync.get(org, connection)
    body = config.public_json()
    due = config.schedule.next_due(utcnow()) if config.schedule.enabled else None
    body["schedule"]["nextDue"] = due.isoformat() if due else None
    return body


@bp.route(route=_ITEM + "/autosync", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def autosync_get(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = _connection(req)
    return json_response(_view(org, connection), headers=_NO_STORE)


@bp.route(route=_ITEM + "/schedule", methods=["PUT"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@http_boundary
async def autosync_schedule_put(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    # Table I/O runs on worker threads: an async route never blocks the event loop.
    org, connection = await asyncio.to_thread(_connection, req)
    rt = wiring()
    schedule = parse_schedule(
        read_json(req),
        min_interval_seconds=rt.settings.autosync_min_interval_seconds,
        now=utcnow(),
    )
    await scheduling.apply_schedule(
        org=org, connection_id=connection, schedule=schedule, client=client, repo=rt.autosync
    )
    view = await asyncio.to_thread(_view, org, connection)
    return json_response(view, headers=_NO_STORE)


@bp.route(route=_ITEM + "/events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def autosync_events_enable(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = _connection(req)
    row = wiring().connections.get(org, connection)
    key = "evk_" + secrets.token_urlsafe(32)
    wiring().autosync.set_event_key(org, connection, key)
    endpoint = f"{params.api_base(req)}/events/{org}/{connection}"
    setup = events_setup(
        account=row.account,
        container=row.container,
        prefix=row.prefix,
        connection_id=connection,
        endpoint=endpoint,
        key=key,
    )
    return json_response({"eventKey": key, **setup}, status=201, headers=_NO_STORE)


@bp.route(route=_ITEM + "/events", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def autosync_events_disable(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = _connection(req)
    wiring().autosync.set_event_key(org, connection, None)
    return func.HttpResponse(status_code=204)


@bp.route(route=_ITEM + "/webhook", methods=["PUT"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def autosync_webhook_put(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = _connection(req)
    rt = wiring()
    url = webhooks.validate_url(
        read_json(req).get("url"), allow_loopback=rt.settings.webhook_allow_loopback
    )
    secret = webhooks.new_secret()
    rt.autosync.set_webhook(org, connection, url, secret)
    body = {
        "url": url,
        "secret": secret,
        "signatureHeader": webhooks.SIGNATURE_HEADER,
        "deliveryHeader": webhooks.DELIVERY_HEADER,
    }
    return json_response(body, headers=_NO_STORE)


@bp.route(route=_ITEM + "/webhook", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def autosync_webhook_delete(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = _connection(req)
    wiring().autosync.set_webhook(org, connection, "", "")
    return func.HttpResponse(status_code=204)


@bp.route(route=_ITEM + "/webhook/deliveries", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def autosync_webhook_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    _, connection = _connection(req)
    return json_response({"items": wiring().autosync.deliveries(connection)}, headers=_NO_STORE)
