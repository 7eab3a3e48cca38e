"""Sync routes: start (202), list, progress, cancel. Thin adapters over ``shared.sync.service``."""

from __future__ import annotations

from functools import lru_cache

import azure.durable_functions as df
import azure.functions as func

from api import deps
from api.http import http_boundary, json_response
from shared.sync import service
from shared.sync.runs import RunRecord
from shared.sync.staging import Staging

bp = df.Blueprint()


@lru_cache(maxsize=1)
def _staging() -> Staging:
    """Staged run data, deleted when a run is cancelled or found interrupted."""
    return Staging.from_settings(deps.settings())


_BASE = "orgs/{org}/connections/{connection}/syncs"


def _links(req: func.HttpRequest, org: str, connection: str, run: str) -> dict[str, str]:
    base = deps.api_base(req)
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
        "error": (
            {"code": record.error_code, "message": record.error_message or ""}
            if record.error_code
            else None
        ),
    }


@bp.route(route=_BASE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@http_boundary
async def start_sync(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    org, connection = deps.route_ids(req)
    settings = deps.settings()
    record = await service.start_sync(
        org=org,
        connection_id=connection,
        client=client,
        connections=deps.connections(),
        runs=deps.runs(),
        orgs=deps.orgs(),
        settings=settings,
        staging=_staging(),
    )
    links = _links(req, org, connection, record.run_id)
    body = {"runId": record.run_id, "status": record.status.value, **links}
    return json_response(
        body, status=202, headers={"Location": links["statusUrl"], "Retry-After": "2"}
    )


@bp.route(route=_BASE, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def list_syncs(req: func.HttpRequest) -> func.HttpResponse:
    org, connection = deps.route_ids(req)
    deps.connections().get(org, connection)
    runs = deps.runs().list(connection)
    return json_response({"items": [_summary(r) for r in runs]})


@bp.route(route=_BASE + "/{run}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@http_boundary
async def get_sync(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    org, connection = deps.route_ids(req)
    run = deps.run_id(req)
    row = deps.connections().get(org, connection)
    runs = deps.runs()
    record = runs.get(connection, run)
    view = await service.progress_view(
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
    org, connection = deps.route_ids(req)
    run = deps.run_id(req)
    deps.connections().get(org, connection)
    record = await service.cancel_sync(
        org=org,
        connection_id=connection,
        run_id=run,
        client=client,
        connections=deps.connections(),
        runs=deps.runs(),
        staging=_staging(),
    )
    return json_response({**_summary(record), **_links(req, org, connection, run)}, status=202)
