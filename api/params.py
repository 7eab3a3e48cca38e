"""Route and query parameters, validated the same way by every handler: a bad value is a 400
problem naming the parameter (never exception text), before any store is read."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import azure.functions as func

from shared.errors import FieldError, ValidationError
from shared.naming import require_connection_id, require_org_id

__all__ = [
    "MAX_CONTINUATION_TOKEN",
    "MAX_PAGE_SIZE",
    "api_base",
    "choice",
    "continuation_token",
    "org_id",
    "page_size",
    "route_ids",
    "run_id",
]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
#: ASCII digits only: ``str.isdigit`` also accepts ``²`` and other digits ``int`` refuses.
_DIGITS = re.compile(r"[0-9]{1,7}")
#: Tokens this API issues are unpadded base64url.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_CONTINUATION_TOKEN = 4096


def _query(req: func.HttpRequest, name: str) -> str | None:
    value = req.params.get(name)
    return value if isinstance(value, str) else None


def _route(req: func.HttpRequest, name: str) -> str:
    value = req.route_params.get(name)
    return value if isinstance(value, str) else ""


def org_id(req: func.HttpRequest) -> str:
    """The validated ``{org}`` route parameter."""
    return require_org_id(_route(req, "org"))


def route_ids(req: func.HttpRequest) -> tuple[str, str]:
    """The validated ``{org}`` and ``{connection}`` route parameters."""
    return org_id(req), require_connection_id(_route(req, "connection"))


def run_id(req: func.HttpRequest) -> str:
    """The validated ``{run}`` route parameter."""
    run = _route(req, "run")
    if not _RUN_ID.fullmatch(run):
        raise ValidationError(
            [FieldError("run", "invalid_format", "1-64 letters, digits and hyphens")]
        )
    return run


def page_size(req: func.HttpRequest, name: str = "pageSize") -> int:
    """``pageSize``: absent means the default; otherwise a whole number from 1 to 1,000."""
    raw = _query(req, name)
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ValidationError(
            [FieldError(name, "out_of_range", f"an integer from 1 to {MAX_PAGE_SIZE}")]
        )
    return int(raw)


def invalid_token(name: str = "continuationToken") -> ValidationError:
    return ValidationError(
        [
            FieldError(
                name,
                "invalid_token",
                "not a continuation token from a previous page of this list; omit it to start "
                "from the first page",
            )
        ]
    )


def continuation_token(req: func.HttpRequest, name: str = "continuationToken") -> str | None:
    """The token as the previous page gave it (its content is checked where it is decoded)."""
    raw = _query(req, name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_CONTINUATION_TOKEN or not _TOKEN.fullmatch(raw):
        raise invalid_token(name)
    return raw


def choice(req: func.HttpRequest, name: str, allowed: Iterable[str]) -> str | None:
    """An optional query parameter that must be one of ``allowed`` (empty means absent)."""
    raw = _query(req, name)
    if raw is None or raw == "":
        return None
    values = sorted(allowed)
    if raw not in values:
        raise ValidationError([FieldError(name, "invalid_value", "one of " + ", ".join(values))])
    return raw


def api_base(req: func.HttpRequest) -> str:
    """``scheme://host/api`` of the request, for absolute links in responses."""
    try:
        parts = urlsplit(req.url)
    except ValueError:  # a Host header no URL can hold: relative links still work
        return "/api"
    return f"{parts.scheme}://{parts.netloc}/api" if parts.netloc else "/api"
