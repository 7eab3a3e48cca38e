"""Route parameters of the HTTP adapters, validated the same way on every route (the
collaborators come from :mod:`shared.wiring`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import azure.functions as func

from shared.errors import FieldError, ValidationError
from shared.naming import require_connection_id, require_org_id

__all__ = ["api_base", "route_ids", "run_id"]


# -- route parameters ----------------------------------------------------------------------------

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def route_ids(req: func.HttpRequest) -> tuple[str, str]:
    """The validated ``{org}`` and ``{connection}`` route parameters."""
    org = require_org_id(req.route_params.get("org", ""))
    connection = require_connection_id(req.route_params.get("connection", ""), "connection")
    return org, connection


def run_id(req: func.HttpRequest) -> str:
    """The validated ``{run}`` route parameter."""
    run = str(req.route_params.get("run", ""))
    if not _RUN_ID.fullmatch(run):
        raise ValidationError(
            [FieldError("run", "invalid_format", "1-64 letters, digits and hyphens")]
        )
    return run


def api_base(req: func.HttpRequest) -> str:
    """``scheme://host/api`` of the request, for absolute links in responses."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}/api" if parts.netloc else "/api"
