"""Asset routes: the paged asset list (the skip report with ``status=skipped``) and a short-lived
read URL for one blob."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api import deps
from api.http import http_boundary, json_response
from shared.errors import FieldError, NotFoundError, ValidationError
from shared.reasons import Reason
from shared.store.assets import AssetStatus, get_asset, query_assets
from shared.sync.links import read_url
from shared.sync.views import asset_name, asset_view
from shared.wiring import wiring

bp = df.Blueprint()

_BASE = "orgs/{org}/connections/{connection}/assets"
_STATUSES = {s.value for s in AssetStatus}
_REASONS = {r.value for r in Reason}


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ValidationError([FieldError("pageSize", "out_of_range", "an integer from 1 to 1000")])
    return int(raw)


@bp.route(route=_BASE, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def list_assets(req: func.HttpRequest) -> func.HttpResponse:
    org, connection_id = deps.route_ids(req)
    connection = wiring().connections.get(org, connection_id)
    status = req.params.get("status") or None
    reason = req.params.get("reason") or None
    errors = []
    if status is not None and status not in _STATUSES:
        errors.append(
            FieldError("status", "invalid_value", "one of " + ", ".join(sorted(_STATUSES)))
        )
    if reason is not None and reason not in _REASONS:
        errors.append(
            FieldError("reason", "invalid_value", "one of " + ", ".join(sorted(_REASONS)))
        )
    size = req.params.get("pageSize")
    if errors:
        raise ValidationError(errors)
    try:
        page = query_assets(
            wiring().assets,
            connection.connection_id,
            status=status,
            reason=reason,
            page_size=_page_size(size),
            continuation_token=req.params.get("continuationToken") or None,
        )
    except ValueError as exc:
        raise ValidationError(
            [FieldError("continuationToken", "invalid_value", str(exc))]
        ) from None
    return json_response(
        {"items": [asset_view(r) for r in page.items], "continuationToken": page.continuation_token}
    )


@bp.route(route=_BASE + "/{asset}/url", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def get_asset_url(req: func.HttpRequest) -> func.HttpResponse:
    org, connection_id = deps.route_ids(req)
    connection = wiring().connections.get(org, connection_id)
    name = asset_name(req.route_params.get("asset", ""))
    row = get_asset(wiring().assets, connection.connection_id, name)
    if row is None or row.get("status") == AssetStatus.REMOVED.value:
        raise NotFoundError("no such asset in this connection", code="asset_not_found")
    url, expires = read_url(
        storage=wiring().storage,
        settings=wiring().settings,
        account=connection.account,
        container=connection.container,
        name=name,
    )
    return json_response(
        {"url": url, "expiresAt": expires.isoformat()}, headers={"Cache-Control": "no-store"}
    )
