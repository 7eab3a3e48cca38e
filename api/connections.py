"""Wizard step 1 and the Connection Manager: create, list, read, rename / re-scope, remove a
connection, and its setup instructions (``/api/orgs/{org}/connections[/{connection}[/setup]]``)."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api import params
from api.http import http_boundary, json_response, read_json
from shared import connections as manager
from shared.wiring import wiring

bp = df.Blueprint()

_NO_STORE = {"Cache-Control": "no-store"}
_COLLECTION = "orgs/{org}/connections"
_ITEM = "orgs/{org}/connections/{connection}"


@bp.route(route=_COLLECTION, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def connections_create(req: func.HttpRequest) -> func.HttpResponse:
    created = manager.create_connection(
        params.org_id(req),
        read_json(req),
        orgs=wiring().orgs,
        connections=wiring().connections,
        settings=wiring().settings,
    )
    headers = {**_NO_STORE, "Location": created["connection"]["links"]["self"]}
    return json_response(created, status=201, headers=headers)


@bp.route(route=_COLLECTION, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def connections_list(req: func.HttpRequest) -> func.HttpResponse:
    listing = manager.list_connections(
        params.org_id(req),
        dataset=req.params.get("dataset") or None,  # ``?dataset=`` is no filter
        orgs=wiring().orgs,
        connections=wiring().connections,
    )
    return json_response(listing, headers=_NO_STORE)


@bp.route(route=_ITEM, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def connections_get(req: func.HttpRequest) -> func.HttpResponse:
    view = manager.get_connection(
        *params.route_ids(req),
        orgs=wiring().orgs,
        connections=wiring().connections,
    )
    return json_response(view, headers=_NO_STORE)


@bp.route(route=_ITEM, methods=["PATCH"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def connections_update(req: func.HttpRequest) -> func.HttpResponse:
    view = manager.update_connection(
        *params.route_ids(req),
        read_json(req),
        orgs=wiring().orgs,
        connections=wiring().connections,
    )
    return json_response(view, headers=_NO_STORE)


@bp.route(route=_ITEM, methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def connections_delete(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = params.route_ids(req)
    manager.delete_connection(
        org,
        connection,
        orgs=wiring().orgs,
        connections=wiring().connections,
        assets=wiring().assets,
        runs=wiring().runs_table,
    )
    wiring().autosync.delete(org, connection)
    wiring().staging.prune_manifests(connection)  # the change-detection manifest goes too
    return func.HttpResponse(status_code=204)


@bp.route(route=_ITEM + "/setup", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def connections_setup(req: func.HttpRequest) -> func.HttpResponse:
    setup = manager.setup_instructions(
        *params.route_ids(req),
        orgs=wiring().orgs,
        connections=wiring().connections,
        settings=wiring().settings,
    )
    return json_response(setup, headers=_NO_STORE)
