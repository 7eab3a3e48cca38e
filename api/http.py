"""The HTTP boundary: JSON responses and the one place domain errors become RFC 9457
``application/problem+json``. An unexpected exception becomes a 500 with a correlation id and
no exception text (it can carry URLs with signatures); the details go to the log only.

The metadata store (Azure Tables) being unreachable, failing or throttling is not a bug: the
transport errors and 5xx/429 answers the SDK raises after its own retries leave as a 503 with
``Retry-After`` (``metadata_store_unavailable`` / ``metadata_store_throttled``). Customer
storage errors never reach this far unclassified (the use cases turn them into 424s or report
results).

Request bodies go through :func:`read_json`, which answers hostile input with 4xx problems:
a media type other than JSON (415), more than :data:`MAX_BODY_BYTES` (413), and invalid UTF-8,
nesting deeper than :data:`MAX_JSON_DEPTH`, duplicate keys, non-standard constants or lone
surrogates (400, field ``body`` or the offending field).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

import azure.functions as func
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from shared.errors import (
    DomainError,
    FieldError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    ValidationError,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "PROBLEM_TYPE_BASE",
    "http_boundary",
    "json_response",
    "problem_response",
    "read_json",
    "store_outage",
]

_log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "urn:blobsync:problem:"

P = ParamSpec("P")


def _encode(body: Any, separators: tuple[str, str] | None = None) -> bytes:
    # "replace": a lone surrogate that slipped into a value must not turn an answer into a 500.
    text = json.dumps(body, ensure_ascii=False, separators=separators)
    return text.encode("utf-8", "replace")


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        _encode(body, separators=(",", ":")),
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
        _encode(body),
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


#: Status codes of the metadata store that mean "try again later".
_THROTTLED = frozenset({429, 503})
_FAILING = frozenset({500, 502, 504})
_RETRY_THROTTLED = 5
_RETRY_UNAVAILABLE = 10
_SECONDS = re.compile(r"[0-9]{1,6}")


def _retry_after(exc: HttpResponseError, default: int) -> int:
    response = getattr(exc, "response", None)
    raw = response.headers.get("Retry-After") if response is not None else None
    if isinstance(raw, str) and _SECONDS.fullmatch(raw.strip()):  # not an HTTP date, not "²"
        return max(1, min(300, int(raw.strip())))
    return default


def store_outage(exc: BaseException) -> ServiceUnavailableError | None:
    """The 503 for a metadata-store failure the SDK gave up on, or None for anything else."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return ServiceUnavailableError(
            "the metadata store cannot be reached right now; try again shortly",
            code="metadata_store_unavailable",
            retry_after=_RETRY_UNAVAILABLE,
        )
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        if status in _THROTTLED:
            return ServiceUnavailableError(
                "the metadata store is busy; try again shortly",
                code="metadata_store_throttled",
                retry_after=_retry_after(exc, _RETRY_THROTTLED),
            )
        if status in _FAILING:
            return ServiceUnavailableError(
                "the metadata store is failing right now; try again shortly",
                code="metadata_store_unavailable",
                retry_after=_retry_after(exc, _RETRY_UNAVAILABLE),
            )
    return None


def _failure_problem(exc: Exception, req: func.HttpRequest | None) -> func.HttpResponse:
    outage = store_outage(exc)
    if outage is not None:
        _log.warning(
            "metadata store failure while serving %s: %s (answered %s)",
            _instance_path(req),
            type(exc).__name__,
            outage.code,
        )
        return _domain_problem(outage, req)
    return _unexpected_problem(exc, req)


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
                return _failure_problem(exc, _find_request(args, kwargs))

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> func.HttpResponse:
        try:
            result: func.HttpResponse = fn(*args, **kwargs)
            return result
        except DomainError as err:
            return _domain_problem(err, _find_request(args, kwargs))
        except Exception as exc:
            return _failure_problem(exc, _find_request(args, kwargs))

    return wrapper


# -- request bodies ------------------------------------------------------------------------------

#: The largest request body accepted (the biggest valid body is a few KiB).
MAX_BODY_BYTES = 64 * 1024
#: The deepest nesting of arrays and objects accepted (valid bodies are flat objects).
MAX_JSON_DEPTH = 32

_JSON_TYPE = re.compile(r"application/(?:[a-z0-9!#$&^_.-]+\+)?json")
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _body_problem(code: str, message: str, field: str = "body") -> ValidationError:
    return ValidationError([FieldError(field, code, message)])


def _require_json_media_type(req: func.HttpRequest) -> None:
    raw = req.headers.get("content-type") or ""
    media_type, _, params = raw.partition(";")
    if not _JSON_TYPE.fullmatch(media_type.strip().lower()):
        raise UnsupportedMediaTypeError(
            "send the body as application/json (UTF-8)", extra={"accept": ["application/json"]}
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise UnsupportedMediaTypeError(
                "send the body as application/json in UTF-8", extra={"accept": ["application/json"]}
            )


def _nesting_depth(raw: bytes) -> int:
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _bad_text(value: Any, path: str) -> str | None:
    """The dotted path of the first string (key or value) holding a lone surrogate."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if _SURROGATE.search(key):
                return path or "body"
            found = _bad_text(item, child)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _bad_text(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def read_json(req: func.HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx problem: 415 for a media type other than
    JSON, 413 past :data:`MAX_BODY_BYTES`, 400 naming ``body`` (or the field) otherwise."""
    raw = req.get_body()
    if not raw:
        return {}
    _require_json_media_type(req)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body may be at most {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _body_problem("invalid_encoding", "the body is not valid UTF-8") from None
    if _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise _body_problem(
            "too_deep", f"the body nests arrays and objects more than {MAX_JSON_DEPTH} deep"
        )
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except _DuplicateKeyError as dup:
        clean = len(dup.key) <= 100 and not _SURROGATE.search(dup.key)
        field = dup.key if clean else "body"
        raise _body_problem("duplicate_key", "appears more than once in the body", field) from None
    except (ValueError, RecursionError):  # JSONDecodeError, huge integers, NaN/Infinity
        raise _body_problem("invalid_json", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise _body_problem("invalid_json", "the body must be a JSON object")
    bad = _bad_text(value, "")
    if bad is not None:
        raise _body_problem("invalid_unicode", "must be valid Unicode text (a lone surrogate)", bad)
    return value
