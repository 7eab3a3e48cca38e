"""GET /api/health: the app version and whether the metadata store answers."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api import deps
from api.http import http_boundary, json_response
from shared import metadata_store
from shared.settings import Settings
from shared.version import APP_VERSION

bp = df.Blueprint()


def health(*, settings: Settings) -> tuple[int, dict[str, object]]:
    reachable = metadata_store.ping(settings)
    body: dict[str, object] = {
        "status": "ok" if reachable else "degraded",
        "version": APP_VERSION,
        "metadataStore": "reachable" if reachable else "unreachable",
    }
    return (200 if reachable else 503), body


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_boundary
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    status, body = health(settings=deps.settings())
    headers = {"Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = "10"
    return json_response(body, status=status, headers=headers)
