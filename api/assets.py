"""Asset routes: the paged asset list (the skip report with ``status=skipped``) and a short-lived
read URL for one blob."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError

from api import params
from api.http import http_boundary, json_response
from shared.customer_storage import classify_error
from shared.errors import FieldError, NotFoundError, UpstreamError, ValidationError
from shared.reasons import Reason
from shared.store.assets import AssetStatus, get_asset, query_assets
from shared.store.connections import Connection
from shared.sync.links import read_url
from shared.sync.views import asset_name, asset_view
from shared.wiring import wiring

bp = df.Blueprint()

_BASE = "orgs/{org}/connections/{connection}/assets"
_STATUSES = frozenset(s.value for s in AssetStatus)
_REASONS = frozenset(r.value for r in Reason)


@bp.route(route=_BASE, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
def list_assets(req: func.HttpRequest) -> func.HttpResponse:
    org, connection_id = params.route_ids(req)
    errors: list[FieldError] = []
    status = reason = token = None
    size = params.DEFAULT_PAGE_SIZE
    try:
        status = params.choice(req, "status", _STATUSES)
    except ValidationError as err:
        errors += err.errors
    try:
        reason = params.choice(req, "reason", _REASONS)
    except ValidationError as err:
        errors += err.errors
    try:
        size = params.page_size(req)
    except ValidationError as err:
        errors += err.errors
    try:
        token = params.continuation_token(req)
    except ValidationError as err:
        errors += err.errors
    if errors:
        raise ValidationError(errors)
    wiring().orgs.require(org)
    connection = wiring().connections.get(org, connection_id)
    try:
        page = query_assets(
            wiring().assets,
            connection.connection_id,
            status=status,
            reason=reason,
            page_size=size,
            continuation_token=token,
        )
    except (ValueError, RecursionError):  # the token decodes to something no page gave out
        raise params.invalid_token() from None
    return json_response(
        {"items": [asset_view(r) for r in page.items], "continuationToken": page.continuation_token}
    )


@bp.route(route=_BASE + "/{asset}/url", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_boundary
async def get_asset_url(req: func.HttpRequest) -> func.HttpResponse:
    org, connection_id = params.route_ids(req)
    name = asset_name(str(req.route_params.get("asset") or ""))
    # Table I/O runs on a worker thread: an async route never blocks the event loop.
    connection = await asyncio.to_thread(_asset_connection, org, connection_id, name)
    storage = wiring().storage
    try:
        url, expires = await read_url(
            storage=storage,
            settings=wiring().settings,
            account=connection.account,
            container=connection.container,
            name=name,
        )
    except (AzureError, LookupError) as exc:  # the customer's account would not sign a URL
        failure = (
            classify_error(exc, emulator=storage.emulator) if isinstance(exc, AzureError) else None
        )
        retryable = failure is not None and failure.retryable
        raise UpstreamError(
            "the storage account could not sign a read URL; "
            + ("try again shortly" if retryable else "run the connection test"),
            code="storage_unavailable" if retryable else "customer_storage_error",
            retry_after=30 if retryable else None,
            extra={"fault": failure.fault.value if failure else "other"},
        ) from None
    return json_response(
        {"url": url, "expiresAt": expires.isoformat()}, headers={"Cache-Control": "no-store"}
    )


def _asset_connection(org: str, connection_id: str, name: str) -> Connection:
    """The connection holding asset ``name`` (404 when it has no such asset)."""
    wiring().orgs.require(org)
    connection = wiring().connections.get(org, connection_id)
    row = get_asset(wiring().assets, connection.connection_id, name)
    if row is None or row.get("status") == AssetStatus.REMOVED.value:
        raise NotFoundError("no such asset in this connection", code="asset_not_found")
    return connection
