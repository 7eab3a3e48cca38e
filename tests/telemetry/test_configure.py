"""The Azure Monitor distro is configured once per process, only when a connection string is
set, and exports the run's spans and metrics to the ingestion endpoint it names (a loopback
ingestion stub here; each scenario runs in a fresh interpreter: providers are process-global)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from devhost.azurite import PROJECT_ROOT
from shared.telemetry import _aad_client_id

ZERO = "00000000-0000-0000-0000-000000000000"

SCRIPT = textwrap.dedent(
    """
    from opentelemetry import metrics, trace
    from shared import telemetry

    first = telemetry.configure()
    second = telemetry.configure()

    @telemetry.traced_activity("sync.list_page")
    def list_page(payload):
        return {"index": 0, "ref": None, "listed": 7, "unchanged": 0, "changed": 7,
                "nextCursor": None}

    list_page({"org": "acme", "connectionId": "c1", "runId": "r1", "index": 0})
    provider = trace.get_tracer_provider()
    meters = metrics.get_meter_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
        meters.force_flush()
    print(first, second, type(provider).__module__)
    """
)


class _Ingestion(BaseHTTPRequestHandler):
    envelopes: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        items = json.loads(body)
        type(self).envelopes.extend(items if isinstance(items, list) else [items])
        answer = json.dumps(
            {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
        )
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ingestion() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Ingestion.envelopes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingestion)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", _Ingestion.envelopes
    finally:
        server.shutdown()
        server.server_close()


def run_script(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("APPLICATIONINSIGHTS")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=PROJECT_ROOT,
        env={**clean, "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_without_a_connection_string_nothing_is_configured() -> None:
    first, second, module = run_script({}).split()
    assert (first, second) == ("False", "False")
    assert module.startswith("opentelemetry.trace")  # the API's no-op proxy, no SDK provider


def test_with_a_connection_string_spans_and_metrics_reach_ingestion(
    ingestion: tuple[str, list[dict[str, Any]]],
) -> None:
    endpoint, envelopes = ingestion
    conn = f"InstrumentationKey={ZERO};IngestionEndpoint={endpoint}"
    first, second, module = run_script({"APPLICATIONINSIGHTS_CONNECTION_STRING": conn}).split()
    assert (first, second) == ("True", "True")
    assert module.startswith("opentelemetry.sdk")
    received = [(e["data"]["baseType"], e["data"]["baseData"].get("name")) for e in envelopes]
    dependencies = [e for e in envelopes if e["data"]["baseType"] == "RemoteDependencyData"]
    assert len(dependencies) == 1, received
    (span,) = [
        d["data"]["baseData"]
        for d in dependencies
        if d["data"]["baseData"]["name"] == "sync.list_page"
    ]
    assert span["properties"]["blobsync.run_id"] == "r1"
    assert span["properties"]["blobsync.blobs_listed"] == "7"
    # The step's structured record, in the same operation as its span.
    (message,) = [e for e in envelopes if e["data"]["baseType"] == "MessageData"]
    assert message["data"]["baseData"]["message"] == "sync.list_page finished"
    assert message["data"]["baseData"]["properties"]["blobsync.run_id"] == "r1"
    (dependency,) = dependencies
    assert message["tags"]["ai.operation.id"] == dependency["tags"]["ai.operation.id"]
    metric_names = {
        m["name"]
        for e in envelopes
        if e["data"]["baseType"] == "MetricData"
        for m in e["data"]["baseData"]["metrics"]
    }
    assert "blobsync.blobs.listed" in metric_names


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("", None),
        ("Authorization=AAD", ""),
        (f"ClientId={ZERO};Authorization=AAD", ZERO),
        (f"Authorization=aad; ClientId={ZERO}", ZERO),
        (f"ClientId={ZERO}", None),
    ],
)
def test_identity_based_ingestion_is_read_from_the_authentication_string(
    auth: str, expected: str | None
) -> None:
    assert _aad_client_id(auth) == expected


FAILING_STEP = textwrap.dedent(
    """
    import json
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from shared import telemetry
    from shared.errors import DomainError

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    class StepFailed(DomainError):
        default_code = "sync_permission_denied"

    @telemetry.traced_activity("sync.inspect_batch")
    def inspect(payload):
        raise StepFailed("reading private/photos/secret-name.jpg?sig=abc failed")

    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        inspect({"org": "acme", "connectionId": "c1", "runId": "r1", "traceparent": parent})
    except StepFailed:
        pass
    (span,) = exporter.get_finished_spans()
    print(json.dumps({
        "trace": format(span.context.trace_id, "032x"),
        "parent": format(span.parent.span_id, "016x"),
        "status": span.status.status_code.name,
        "description": span.status.description,
        "attributes": dict(span.attributes),
        "events": [e.name for e in span.events],
    }))
    """
)


def test_a_failing_step_records_its_code_not_its_message() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FAILING_STEP],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    span = json.loads(result.stdout)
    assert span["trace"] == "0af7651916cd43dd8448eb211c80319c"  # the run's trace continues
    assert span["parent"] == "b7ad6b7169203331"
    assert span["status"] == "ERROR"
    assert span["attributes"]["blobsync.error_code"] == "sync_permission_denied"
    assert span["events"] == []  # no exception event: its text names blobs and signatures
    assert "secret-name" not in result.stdout and "sig=" not in result.stdout
