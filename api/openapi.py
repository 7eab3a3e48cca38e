"""``GET /api/openapi.json``: the HTTP contract (OpenAPI 3.1), kept in ``api/openapi.json``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

from api.http import http_boundary

bp = df.Blueprint()

DOCUMENT = Path(__file__).with_name("openapi.json")


@lru_cache(maxsize=1)
def _document() -> bytes:
    return DOCUMENT.read_bytes()


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_boundary
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        _document(),
        status_code=200,
        mimetype="application/json",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
