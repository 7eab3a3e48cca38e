"""Run telemetry with OpenTelemetry: one trace per sync run, step spans, run metrics.

When ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, :func:`configure` sets up the Azure
Monitor OpenTelemetry distro once per worker process (identity-based ingestion when
``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` says ``Authorization=AAD``); otherwise the
OpenTelemetry API stays a no-op unless something else (a test) installed providers.

One run reads as one end-to-end transaction: the start request's span is the root, its W3C
``traceparent`` travels in the orchestration input (:func:`trace_fields`), the orchestrator
copies it into every activity payload, and each activity's span continues that trace.

Attributes hold ids, counts, reason and error codes only - never blob names or contents,
account names, keys, SAS or bearer tokens.

Log records: one per finished or failed step on the ``blobsync.run`` logger, carrying the same
ids and counts as attributes.

Spans: ``sync.start`` (server), ``sync.list_page``, ``sync.inspect_batch``, ``sync.finish_run``.
Metrics (all prefixed ``blobsync.``): ``blobs.listed``, ``blobs.inspected``, ``blobs.synced``,
``blobs.skipped`` (by ``blobsync.skip_reason``), ``bytes.read``, ``runs`` and
``run.duration`` (by ``blobsync.outcome``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "ORG",
    "configure",
    "instrument_client",
    "trace_fields",
    "traced_activity",
    "traced_start",
]

_log = logging.getLogger(__name__)
#: One structured record per finished (or failed) step, with the ids and the step's counts as
#: attributes. With the distro configured it is exported with the run's trace context (so it
#: appears in the run's transaction) and does not propagate: the Functions host already forwards
#: the worker's other records, and these would arrive twice.
RUN_LOGGER = "blobsync.run"
_run_log = logging.getLogger(RUN_LOGGER)

NAME = "blobsync"
ORG = "blobsync.org_id"
CONNECTION = "blobsync.connection_id"
RUN = "blobsync.run_id"
OUTCOME = "blobsync.outcome"
SKIP_REASON = "blobsync.skip_reason"
ERROR_CODE = "blobsync.error_code"
#: Keys of the trace context in the orchestration input and activity payloads.
TRACEPARENT = "traceparent"
TRACE_STARTED_AT = "traceStartedAt"

_propagator = TraceContextTextMapPropagator()
_lock = threading.Lock()
_configured: bool | None = None


def _aad_client_id(auth: str) -> str | None:
    """``Authorization=AAD[;ClientId=<id>]`` -> the user-assigned identity's client id ('' for
    the system-assigned one); ``None`` when ingestion is not identity-based."""
    parts = dict(item.split("=", 1) for item in auth.split(";") if "=" in item and item.strip())
    normalized = {k.strip().lower(): v.strip() for k, v in parts.items()}
    if normalized.get("authorization", "").upper() != "AAD":
        return None
    return normalized.get("clientid", "")


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Configure the Azure Monitor distro once per process; True when it is (or was) set up."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        env = os.environ if env is None else env
        connection = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
        _configured = False
        if not connection:
            return False
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor
        except ImportError:  # pragma: no cover - the deployed app ships it
            _log.warning("azure-monitor-opentelemetry is not installed: no run telemetry")
            return False
        options: dict[str, Any] = {
            "connection_string": connection,
            # Only the step records: the Functions host already forwards the other log records.
            "logger_name": RUN_LOGGER,
            # A span per storage request would cost more than the runs they describe.
            "instrumentation_options": {"azure_sdk": {"enabled": False}},
            # Every run's trace is kept (a run is a few dozen spans): the distro's default
            # rate-limited sampler would drop whole runs.
            "sampling_ratio": 1.0,
        }
        client_id = _aad_client_id(env.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""))
        if client_id is not None:
            from azure.identity import ManagedIdentityCredential

            options["credential"] = ManagedIdentityCredential(client_id=client_id or None)
        configure_azure_monitor(**options)
        _run_log.setLevel(logging.INFO)
        _run_log.propagate = False
        _configured = True
        return True


@dataclass(frozen=True)
class _Instruments:
    listed: metrics.Counter
    inspected: metrics.Counter
    synced: metrics.Counter
    skipped: metrics.Counter
    bytes_read: metrics.Counter
    runs: metrics.Counter
    duration: metrics.Histogram


@functools.lru_cache(maxsize=1)
def _instruments() -> _Instruments:
    meter = metrics.get_meter(NAME)
    return _Instruments(
        listed=meter.create_counter("blobsync.blobs.listed", unit="{blob}"),
        inspected=meter.create_counter("blobsync.blobs.inspected", unit="{blob}"),
        synced=meter.create_counter("blobsync.blobs.synced", unit="{blob}"),
        skipped=meter.create_counter("blobsync.blobs.skipped", unit="{blob}"),
        bytes_read=meter.create_counter("blobsync.bytes.read", unit="By"),
        runs=meter.create_counter("blobsync.runs", unit="{run}"),
        duration=meter.create_histogram("blobsync.run.duration", unit="s"),
    )


def _tracer() -> trace.Tracer:
    configure()
    return trace.get_tracer(NAME)


# --------------------------------------------------------------------------- trace context
def trace_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    """The trace context fields of an orchestration input, to copy into activity payloads
    (pure: safe in an orchestrator)."""
    return {k: source[k] for k in (TRACEPARENT, TRACE_STARTED_AT) if source.get(k)}


def _current_fields() -> dict[str, str]:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if TRACEPARENT not in carrier:
        return {}
    return {
        TRACEPARENT: carrier[TRACEPARENT],
        TRACE_STARTED_AT: datetime.now(UTC).isoformat(),
    }


def _parent(payload: Mapping[str, Any]) -> Context | None:
    traceparent = payload.get(TRACEPARENT)
    if not isinstance(traceparent, str):
        return None
    return _propagator.extract({TRACEPARENT: traceparent})


class _TracingClient:
    """A durable client whose ``start_new`` adds the current trace context to the input."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
    ) -> Any:
        if isinstance(client_input, dict):
            client_input = {**client_input, **_current_fields()}
            span = trace.get_current_span()
            for key, attr in (("runId", RUN), ("org", ORG), ("connectionId", CONNECTION)):
                if isinstance(client_input.get(key), str):
                    span.set_attribute(attr, client_input[key])
        return await self._inner.start_new(orchestration_function_name, instance_id, client_input)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instrument_client(client: Any) -> Any:
    """Wrap a durable orchestration client so new orchestrations continue the current trace."""
    return _TracingClient(client)


# --------------------------------------------------------------------------- decorators
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def traced_start(fn: F) -> F:
    """The start-sync route: a server span (the run's root) around the handler; the durable
    client argument (``client``) is wrapped so the orchestration input carries the context."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = next((a for a in (*args, *kwargs.values()) if hasattr(a, "route_params")), None)
        params = dict(getattr(request, "route_params", None) or {})
        attributes = {
            attr: params[key]
            for key, attr in (("org", ORG), ("connection", CONNECTION))
            if key in params
        }
        args = tuple(instrument_client(a) if hasattr(a, "start_new") else a for a in args)
        kwargs = {
            k: instrument_client(v) if hasattr(v, "start_new") else v for k, v in kwargs.items()
        }
        with _tracer().start_as_current_span(
            "sync.start", kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            response = await fn(*args, **kwargs)
            status = getattr(response, "status_code", None)
            if isinstance(status, int):
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            return response

    return wrapper  # type: ignore[return-value]


def _ids(payload: Mapping[str, Any]) -> dict[str, str]:
    return {
        attr: str(payload[key])
        for key, attr in (("org", ORG), ("connectionId", CONNECTION), ("runId", RUN))
        if payload.get(key)
    }


Fields = dict[str, str | int | float]


def _record_list(payload: Mapping[str, Any], result: Mapping[str, Any]) -> Fields:
    listed = int(result.get("listed", 0))
    _instruments().listed.add(listed)
    return {
        "blobsync.page_index": int(payload.get("index", 0)),
        "blobsync.blobs_listed": listed,
        "blobsync.blobs_changed": int(result.get("changed", 0)),
    }


def _record_batch(payload: Mapping[str, Any], result: Mapping[str, Any]) -> Fields:
    tools = _instruments()
    by_reason: Mapping[str, int] = result.get("skippedByReason") or {}
    skipped = sum(by_reason.values())
    synced = int(result.get("synced", 0))
    inspected = synced + skipped + int(result.get("ignored", 0)) + int(result.get("failed", 0))
    bytes_read = int(result.get("bytesRead", 0))
    tools.inspected.add(inspected)
    tools.synced.add(synced)
    for reason, count in by_reason.items():
        if count:
            tools.skipped.add(int(count), {SKIP_REASON: str(reason)})
    tools.bytes_read.add(bytes_read)
    return {
        "blobsync.blobs_inspected": inspected,
        "blobsync.blobs_synced": synced,
        "blobsync.blobs_skipped": skipped,
        "blobsync.bytes_read": bytes_read,
    }


_TOTALS = {
    "listed": "blobsync.total_listed",
    "synced": "blobsync.total_synced",
    "skipped": "blobsync.total_skipped",
    "ignored": "blobsync.total_ignored",
    "failed": "blobsync.total_failed",
    "removed": "blobsync.total_removed",
    "bytesRead": "blobsync.total_bytes_read",
}


def _record_finish(payload: Mapping[str, Any], result: Mapping[str, Any]) -> Fields:
    tools = _instruments()
    outcome = str(result.get("status") or payload.get("status") or "unknown")
    error = payload.get("error") or {}
    code = error.get("code") if isinstance(error, Mapping) else None
    fields: Fields = {OUTCOME: outcome}
    if code:
        fields[ERROR_CODE] = str(code)
    totals: Mapping[str, Any] = result.get("totals") or {}
    for key, attr in _TOTALS.items():
        if isinstance(totals.get(key), int):
            fields[attr] = totals[key]
    tools.runs.add(1, {OUTCOME: outcome})
    started = payload.get(TRACE_STARTED_AT)
    if isinstance(started, str):
        try:
            seconds = (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()
        except ValueError:
            return fields
        fields["blobsync.run_duration_s"] = round(seconds, 3)
        tools.duration.record(max(seconds, 0.0), {OUTCOME: outcome})
    return fields


_RECORDERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Fields]] = {
    "sync.list_page": _record_list,
    "sync.inspect_batch": _record_batch,
    "sync.finish_run": _record_finish,
}

A = TypeVar("A", bound=Callable[..., Any])


def traced_activity(step: str) -> Callable[[A], A]:
    """An activity ``fn(payload)``: a span continuing the run's trace, the step's metrics from
    its result. Exceptions are recorded by type only (their text can name blobs)."""
    record = _RECORDERS.get(step)

    def decorate(fn: A) -> A:
        @functools.wraps(fn)
        def wrapper(payload: dict[str, Any]) -> Any:
            with _tracer().start_as_current_span(
                step,
                context=_parent(payload),
                kind=SpanKind.INTERNAL,
                attributes=_ids(payload),
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                ids = _ids(payload)
                try:
                    result = fn(payload)
                except Exception as exc:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    code = getattr(exc, "code", None)
                    failure: Fields = {"blobsync.step": step, **ids}
                    if isinstance(code, str):
                        span.set_attribute(ERROR_CODE, code)
                        failure[ERROR_CODE] = code
                    _run_log.warning("%s failed", step, extra=failure)
                    raise
                fields: Fields = {}
                if record is not None and isinstance(result, Mapping):
                    try:
                        fields = record(payload, result)
                    except Exception:  # telemetry must never fail a step
                        _log.warning("could not record %s telemetry", step, exc_info=True)
                span.set_attributes(fields)
                if ERROR_CODE in fields:
                    span.set_status(Status(StatusCode.ERROR, str(fields[ERROR_CODE])))
                _run_log.info("%s finished", step, extra={"blobsync.step": step, **ids, **fields})
                return result

        return wrapper  # type: ignore[return-value]

    return decorate
