"""The HTTP boundary: JSON responses and the one place domain errors become RFC 9457
``application/problem+json``. An unexpected exception becomes a 500 with a correlation id and
no exception text (it can carry URLs with signatures); the details go to the log only."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

import azure.functions as func

from shared.errors import DomainError, FieldError, ValidationError

__all__ = ["PROBLEM_TYPE_BASE", "http_boundary", "json_response", "problem_response", "read_json"]

_log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "urn:blobsync:problem:"

P = ParamSpec("P")


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=dict(headers or {}),
    )


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        mimetype="application/problem+json",
        charset="utf-8",
        headers=dict(headers or {}),
    )


def _instance_path(req: func.HttpRequest | None) -> str | None:
    if req is None:
        return None
    url = req.url
    path = url.split("://", 1)[-1]
    path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    return path.split("?", 1)[0]  # never echo the query string: it may carry a key


def _domain_problem(err: DomainError, req: func.HttpRequest | None) -> func.HttpResponse:
    extra = dict(err.extra)
    if isinstance(err, ValidationError):
        extra["errors"] = [e.to_json() for e in err.errors]
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return problem_response(
        err.status,
        err.code,
        err.title,
        err.detail,
        instance=_instance_path(req),
        extra=extra,
        headers=headers,
    )


def _unexpected_problem(exc: BaseException, req: func.HttpRequest | None) -> func.HttpResponse:
    correlation = uuid.uuid4().hex
    _log.error(
        "unhandled %s while serving %s (correlation id %s)",
        type(exc).__name__,
        _instance_path(req),
        correlation,
        exc_info=exc,
    )
    return problem_response(
        500,
        "internal_error",
        "Internal server error",
        "The request failed unexpectedly. Quote the correlation id when reporting it.",
        instance=_instance_path(req),
        extra={"correlationId": correlation},
        headers={"X-Correlation-Id": correlation},
    )


def _find_request(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> func.HttpRequest | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, func.HttpRequest):
            return value
    return None


def http_boundary(fn: Callable[P, Any]) -> Callable[P, Any]:
    """Wrap an HTTP handler (sync or async) so that every error leaves as problem+json.

    The wrapper keeps the handler's signature, so the Functions worker still binds the request
    and any durable client by parameter name.
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> func.HttpResponse:
            try:
                result: func.HttpResponse = await fn(*args, **kwargs)
                return result
            except DomainError as err:
                return _domain_problem(err, _find_request(args, kwargs))
            except Exception as exc:
                return _unexpected_problem(exc, _find_request(args, kwargs))

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> func.HttpResponse:
        try:
            result: func.HttpResponse = fn(*args, **kwargs)
            return result
        except DomainError as err:
            return _domain_problem(err, _find_request(args, kwargs))
        except Exception as exc:
            return _unexpected_problem(exc, _find_request(args, kwargs))

    return wrapper


def read_json(req: func.HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 problem naming the body."""
    raw = req.get_body()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError(
            [FieldError("body", "invalid_json", "the body is not valid JSON")]
        ) from None
    if not isinstance(value, dict):
        raise ValidationError(
            [FieldError("body", "invalid_json", "the body must be a JSON object")]
        )
    return value
