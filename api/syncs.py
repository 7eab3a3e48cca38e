"""Sync routes: start (202), list, progress, cancel. Thin adapters over ``shared.sync.control``."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func

from api import params
from api.http import http_boundary, json_response
from shared import telemetry
from shared.autosync import after_run
from shared.store import Connection
from shared.store.runs import RunRecord
from shared.sync import control
from shared.wiring import wiring

bp = df.Blueprint()


_BASE = "orgs/{org}/connections/{connection}/syncs"


def _connection(org: str, connection: str) -> Connection:
    """The organisation's connection (``org_not_found`` first). It blocks on table reads: the
    async routes call it on a worker thread, never on the event loop."""
    wiring().orgs.require(org)
    return wiring().connections.get(org, connection)


def _links(req: func.HttpRequest, org: str, connection: str, run: str) -> dict[str, str]:
    base = params.api_base(req)
    status = f"{base}/orgs/{org}/connections/{connection}/syncs/{run}"
    return {"statusUrl": status, "cancelUrl": f"{status}/cancel"}


def _summary(record: RunRecord) -> dict[str, object]:
    c = record.counters
    return {
        "runId": record.run_id,
        "status": record.status.value,
        "trigger": record.trigger,
        "startedAt": record.started_at.isoformat(),
        "finishedAt": record.finished_at.isoformat() if record.finished_at else None,
        "counts": {
            "synced": c["synced"],
            "skipped": c["skipped"],
            "ignored": c["ignored"],
            "removed": c["removed"],
            "unchanged": c["unchanged"],
            "failed": c["failed"],
        },
        "error": record.error,
    }


@bp.route(route=_BASE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@telemetry.traced_start
@http_boundary
async def start_sync(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    org, connection = params.route_ids(req)
    settings = wiring().settings
    record = await control.start_sync(
        org=org,
        connection_id=connection,
        client=client,
        connections=wiring().connections,
        runs=wiring().runs,
        orgs=wiring().orgs,
        settings=settings,
        staging=wiring().staging,
    )
    links = _links(req, org, connection, record.run_id)
    body = {"runId": record.run_id, "status": record.status.value, **links}
    return json_response(
        body, status=202, headers={"Location": links["statusUrl"], "Retry-After": "2"}
    )


@bp.route(route=_BASE, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def list_syncs(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = params.route_ids(req)
    _connection(org, connection)
    runs = wiring().runs.list(connection)
    return json_response({"items": [_summary(r) for r in runs]})


@bp.route(route=_BASE + "/{run}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@http_boundary
async def get_sync(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    org, connection = params.route_ids(req)
    run = params.run_id(req)
    row = await asyncio.to_thread(_connection, org, connection)
    runs = wiring().runs
    record = await asyncio.to_thread(runs.get, connection, run)
    view = await control.progress_view(
        connection=row, record=record, client=client, progress=runs.progress_board()
    )
    view.update(_links(req, org, connection, run))
    return json_response(view, headers={"Cache-Control": "no-store"})


@bp.route(route=_BASE + "/{run}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@http_boundary
async def cancel_sync(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    org, connection = params.route_ids(req)
    run = params.run_id(req)
    await asyncio.to_thread(_connection, org, connection)
    record = await control.cancel_sync(
        org=org,
        connection_id=connection,
        run_id=run,
        client=client,
        connections=wiring().connections,
        runs=wiring().runs,
        staging=wiring().staging,
    )
    await after_run.after_cancel(org=org, connection_id=connection, run_id=run, client=client)
    return json_response({**_summary(record), **_links(req, org, connection, run)}, status=202)
