"""Wizard step 5: ``POST /api/orgs/{org}/connections/{connection}/test`` runs the check ladder.

The customer's storage refusing access is a result inside the 200 report, never a 401/403."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api import params
from api.http import http_boundary, json_response
from shared.diagnostics import run_connection_test
from shared.wiring import wiring

bp = df.Blueprint()


@bp.route(
    route="orgs/{org}/connections/{connection}/test",
    methods=["POST"],
    auth_level=func.AuthLevel.FUNCTION,
)
@http_boundary
async def connections_test(req: func.HttpRequest) -> func.HttpResponse:
    report = await run_connection_test(
        *params.route_ids(req),
        orgs=wiring().orgs,
        connections=wiring().connections,
        storage=wiring().storage,
        settings=wiring().settings,
    )
    headers = {"Cache-Control": "no-store"}
    if report["retryable"] and report["retryAfterSeconds"]:
        headers["Retry-After"] = str(report["retryAfterSeconds"])
    return json_response(report, headers=headers)
