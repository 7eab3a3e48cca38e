"""Wizard step 6: ``POST /api/orgs/{org}/connections/{connection}/preview`` counts what a sync would
find (bounded scan) and what it would cost against the monthly quota."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api import params
from api.http import http_boundary, json_response
from shared.preview import preview_connection
from shared.wiring import wiring

bp = df.Blueprint()


@bp.route(
    route="orgs/{org}/connections/{connection}/preview",
    methods=["POST"],
    auth_level=func.AuthLevel.FUNCTION,
)
@http_boundary
async def connections_preview(req: func.HttpRequest) -> func.HttpResponse:
    report = await preview_connection(
        *params.route_ids(req),
        orgs=wiring().orgs,
        connections=wiring().connections,
        usage=wiring().usage,
        storage=wiring().storage,
        settings=wiring().settings,
    )
    return json_response(report, headers={"Cache-Control": "no-store"})
