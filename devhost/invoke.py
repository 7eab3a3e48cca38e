"""Call user functions the way the Python worker does.

Arguments go by keyword (binding name); a parameter named ``context`` without a binding receives
an :class:`azure.functions.Context`. ``async def`` functions run on the event loop, sync ones on a
thread pool. Activity payloads use the SDK's ``df_dumps`` / ``df_loads`` so encodings match Azure
byte for byte.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import threading
import traceback
import uuid
import warnings
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

import azure.functions as func
from azure.functions._abc import TraceContext
from azure.functions._durable_functions import df_dumps, df_loads
from multidict import CIMultiDict

from devhost.loader import IndexedFunction
from devhost.worker import FunctionRunner


class _TraceContext(TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class InvocationContext(func.Context):
    """The ``context`` argument: invocation id, function name and directory."""

    def __init__(
        self, function_name: str, function_directory: str, invocation_id: str | None = None
    ) -> None:
        self._invocation_id = invocation_id or str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._tls = threading.local()
        self._trace = _TraceContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> Any:
        return None


def prime_serialization_notice() -> None:
    """Emit ``df_loads``'s one-time "no expected_type" advisory now, silently.

    The library warns (``DeprecationWarning``) on the first ``df_loads`` call of the process;
    doing it once at start keeps it out of invocations and out of strict warning filters.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df_loads("null")


async def close_sdk_session() -> None:
    """Close the Durable SDK's shared aiohttp session (it has no shutdown hook).

    The session belongs to the event loop that created it; close it before that loop ends.
    """
    try:
        from azure.durable_functions.models.utils import http_utils
    except ImportError:  # pragma: no cover - SDK layout changed
        return
    closer = getattr(http_utils, "_close_session", None)
    if closer is not None:
        await closer()


async def call_function(
    entry: IndexedFunction,
    kwargs: dict[str, Any],
    *,
    worker: FunctionRunner | None = None,
    executor: Executor | None = None,
    context: InvocationContext | None = None,
    function_timeout: dt.timedelta | None = None,
) -> Any:
    """Invoke ``entry`` with ``kwargs`` (+ ``context`` if it wants one), sync or async.

    With a ``worker`` (the dev host), the call runs there as the Python worker runs it, with the
    host's ``timeout``; without one (in-process tools), on the caller's loop / ``executor``.
    """
    context = context or InvocationContext(entry.name, str(_directory_of(entry)))
    if worker is not None:
        return await worker.invoke(
            entry, kwargs, invocation=context, function_timeout=function_timeout
        )
    if entry.wants_context:
        kwargs = {**kwargs, "context": context}
    fn = entry.user_function
    if entry.is_async:
        return await fn(**kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(fn, **kwargs))


def _directory_of(entry: IndexedFunction) -> str:
    script = getattr(entry.function, "function_script_file", "") or ""
    return str(script)


# --------------------------------------------------------------------------- activities
class RemoteFunctionError(Exception):
    """A user function raised in a worker process; carries what the worker reports."""

    def __init__(self, type_name: str, message: str, details: str) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.details = details


def describe_error(exc: BaseException) -> str:
    """An invocation's failure as the host reports it: the worker's ``<type>: <message>``; the
    host's own exceptions (a timeout) by their message."""
    from devhost.worker import FunctionTimeoutError

    if isinstance(exc, FunctionTimeoutError):
        return str(exc)
    if isinstance(exc, RemoteFunctionError):
        return f"{exc.type_name}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def error_details(exc: BaseException) -> str:
    if isinstance(exc, RemoteFunctionError):
        return exc.details
    return "".join(traceback.format_exception(exc))


class EncodedOutput(str):
    """An activity result already encoded with ``df_dumps`` (by a worker process)."""


class ActivityOutputError(TypeError):
    """The activity returned something ``df_dumps`` cannot serialize."""


def decode_activity_input(text: str | None) -> Any:
    """``ActivityTriggerConverter.decode``: ``df_loads`` with a raw-string fallback."""
    if text is None:
        return None
    try:
        return df_loads(text)
    except json.JSONDecodeError:
        return text
    except Exception as exc:
        raise ValueError(
            "activity trigger input must be a string or a valid json serializable"
        ) from exc


def encode_activity_output(value: Any) -> str:
    if isinstance(value, EncodedOutput):
        return str(value)
    try:
        return df_dumps(value)
    except TypeError as exc:
        raise ActivityOutputError(
            f"activity trigger output must be json serializable ({type(value).__name__})"
        ) from exc


# --------------------------------------------------------------------------- HTTP
def build_http_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | CIMultiDict[str],
    params: Mapping[str, str],
    route_params: Mapping[str, str],
    body: bytes,
) -> func.HttpRequest:
    merged: dict[str, str] = {}
    for key, value in headers.items():
        low = key.lower()
        merged[low] = f"{merged[low]}, {value}" if low in merged else value
    return func.HttpRequest(
        method=method.upper(),
        url=url,
        headers=merged,
        params=dict(params),
        route_params=dict(route_params),
        body=body,
    )


class HttpResult:
    """What an HTTP function produced, in transport-neutral form."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @classmethod
    def from_return_value(cls, value: Any) -> HttpResult:
        """Convert the ``$return`` value as the worker's ``HttpResponseConverter`` does."""
        if isinstance(value, HttpResult):  # converted in a worker process already
            return value
        if value is None:
            return cls(204, [], b"")
        if isinstance(value, str):
            return cls(200, [("Content-Type", "text/plain; charset=utf-8")], value.encode())
        if isinstance(value, func.HttpResponse):
            headers = [(k, v) for k, v in value.headers.items() if k.lower() != "content-length"]
            if not any(k.lower() == "content-type" for k, _ in headers):
                mimetype = value.mimetype
                content_type = (
                    f"{mimetype}; charset={value.charset}"
                    if mimetype.startswith("text/")
                    else mimetype
                )
                headers.append(("Content-Type", content_type))
            return cls(int(value.status_code), headers, value.get_body() or b"")
        raise TypeError(
            f"an HTTP function must return azure.functions.HttpResponse or str, "
            f"not {type(value).__name__}"
        )
