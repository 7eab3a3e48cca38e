"""GET /api/health: the app version and whether the metadata store answers."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api.http import http_boundary, json_response
from shared.store import Store
from shared.version import APP_VERSION
from shared.wiring import wiring

bp = df.Blueprint()


def health(*, store: Store) -> tuple[int, dict[str, object]]:
    reachable = store.ping()
    body: dict[str, object] = {
        "status": "ok" if reachable else "degraded",
        "version": APP_VERSION,
        "metadataStore": "reachable" if reachable else "unreachable",
    }
    return (200 if reachable else 503), body


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_boundary
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    status, body = health(store=wiring().store)
    headers = {"Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = "10"
    return json_response(body, status=status, headers=headers)
