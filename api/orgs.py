"""Organisations: ``PUT /api/orgs/{org}`` (admin key) and ``GET /api/orgs/{org}/usage``."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api import params
from api.http import http_boundary, json_response, read_json
from shared.store.orgs import organization_view, put_organization
from shared.store.usage import usage_report
from shared.wiring import wiring

bp = df.Blueprint()

_NO_STORE = {"Cache-Control": "no-store"}


@bp.route(route="orgs/{org}", methods=["PUT"], auth_level=func.AuthLevel.ADMIN)
@http_boundary
def orgs_put(req: func.HttpRequest) -> func.HttpResponse:
    org, created = put_organization(
        params.org_id(req),
        read_json(req),
        orgs=wiring().orgs,
        default_quota=wiring().settings.default_monthly_quota,
    )
    headers = dict(_NO_STORE)
    if created:
        headers["Location"] = f"/api/orgs/{org.org_id}"
    return json_response(organization_view(org), status=201 if created else 200, headers=headers)


@bp.route(route="orgs/{org}/usage", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def orgs_usage(req: func.HttpRequest) -> func.HttpResponse:
    report = usage_report(params.org_id(req), orgs=wiring().orgs, usage=wiring().usage)
    return json_response(report, headers=_NO_STORE)
