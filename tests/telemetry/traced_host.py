"""``python -m tests.telemetry.traced_host OUT.json WORKSPACE PORT``: the dev host in this process
with the OpenTelemetry SDK's in-memory exporters installed as the global providers.

Prints ``READY <port>`` once it listens; on SIGTERM it stops, then writes every finished span
and every metric data point to OUT.json. The app, its activities and its start route run in
this process, so what they emit is exactly what the Azure Monitor distro would export.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devhost.azurite import PROJECT_ROOT
from devhost.host import DevHost, HostOptions
from shared.telemetry import RUN_LOGGER


def _spans(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    out = []
    for span in exporter.get_finished_spans():
        ctx = span.get_span_context()
        assert ctx is not None
        out.append(
            {
                "name": span.name,
                "kind": span.kind.name,
                "traceId": format(ctx.trace_id, "032x"),
                "spanId": format(ctx.span_id, "016x"),
                "parentId": format(span.parent.span_id, "016x") if span.parent else None,
                "status": span.status.status_code.name,
                "attributes": dict(span.attributes or {}),
            }
        )
    return out


def _metrics(reader: InMemoryMetricReader) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    data = reader.get_metrics_data()
    if data is None:
        return out
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:  # a histogram point
                        value = {"count": point.count, "sum": point.sum}  # type: ignore[attr-defined]
                    out.append(
                        {
                            "name": metric.name,
                            "attributes": dict(point.attributes or {}),
                            "value": value,
                        }
                    )
    return out


def _logs(exporter: InMemoryLogRecordExporter) -> list[dict[str, Any]]:
    out = []
    for item in exporter.get_finished_logs():
        record = item.log_record
        out.append(
            {
                "body": str(record.body),
                "traceId": format(record.trace_id or 0, "032x"),
                "attributes": {
                    k: v
                    for k, v in dict(record.attributes or {}).items()
                    if k.startswith("blobsync.")
                },
            }
        )
    return out


async def serve(workspace: Path, port: int) -> None:
    host = DevHost(HostOptions(app_dir=PROJECT_ROOT, port=port, workspace=workspace))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await host.start()
    print(f"READY {host.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await host.stop()


def main(out: Path, workspace: Path, port: int) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    # The step records reach the exporter as the distro sends them (a handler on their logger).
    logs = InMemoryLogRecordExporter()
    log_provider = LoggerProvider()
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    run_logger = logging.getLogger(RUN_LOGGER)
    run_logger.addHandler(LoggingHandler(logger_provider=log_provider))
    run_logger.setLevel(logging.INFO)
    asyncio.run(serve(workspace, port))
    out.write_text(
        json.dumps({"spans": _spans(exporter), "metrics": _metrics(reader), "logs": _logs(logs)})
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
