"""Console logging in the style of ``func start``.

Every invocation produces one line::

    [2024-01-01T12:00:00.123Z] Executed 'Functions.fan_out' (Succeeded, Id=..., Duration=12ms, InstanceId=abc)

Failures add a ``Result: Failure`` line with the exception type and message. Request URLs,
payloads and keys are never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys

INVOCATIONS_LOGGER = "devhost.invocations"
_invocations = logging.getLogger(INVOCATIONS_LOGGER)


class _FuncFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def configure_logging(level: int = logging.INFO) -> None:
    """Root handler on stdout; the Azure SDK's HTTP chatter turned down to WARNING."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_FuncFormatter("[%(asctime)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("azure", "azure.core.pipeline.policies.http_logging_policy", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_invocation(
    function_name: str,
    *,
    invocation_id: str,
    duration_s: float,
    succeeded: bool,
    instance_id: str | None = None,
    error: str | None = None,
) -> None:
    outcome = "Succeeded" if succeeded else "Failed"
    extra = f", InstanceId={instance_id}" if instance_id else ""
    _invocations.info(
        "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms%s)",
        function_name,
        outcome,
        invocation_id,
        round(duration_s * 1000),
        extra,
    )
    if not succeeded and error:
        _invocations.error("Result: Failure Exception: %s", error)
