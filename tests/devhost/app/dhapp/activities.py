"""Activities of the scenario app (sync on threads, one async on the event loop)."""

import asyncio
import os
import threading
import time
import uuid

import azure.durable_functions as df
from azure.data.tables import TableServiceClient

from dhapp import names

bp = df.Blueprint()

_attempts: dict[str, int] = {}
_attempts_lock = threading.Lock()


@bp.activity_trigger(input_name="value", activity=names.SQUARE)
def square(value: int) -> int:
    return value * value


@bp.activity_trigger(input_name="value", activity=names.DOUBLE)
def double(value: int) -> int:
    return 2 * value


@bp.activity_trigger(input_name="payload", activity=names.FLAKY)
def flaky(payload: dict) -> str:
    """Fails the first ``fail_times`` calls for a key, then succeeds."""
    with _attempts_lock:
        attempt = _attempts.get(payload["key"], 0) + 1
        _attempts[payload["key"]] = attempt
    if attempt <= payload["fail_times"]:
        raise RuntimeError(f"transient failure {attempt}")
    return f"succeeded on attempt {attempt}"


@bp.activity_trigger(input_name="value", activity=names.ASYNC_ECHO)
async def async_echo(value: int) -> int:
    await asyncio.sleep(0)
    return value


@bp.activity_trigger(input_name="spec", activity=names.RECORD_STEP)
def record_step(spec: dict) -> int:
    """Sleeps, then records this execution in a table (insert: every execution is a new row)."""
    time.sleep(spec["sleep"])
    service = TableServiceClient.from_connection_string(
        os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the Functions setting name
    )
    table = service.get_table_client(spec["table"])
    table.create_entity(
        {
            "PartitionKey": spec["run"],
            "RowKey": f"{spec['step']:04d}-{uuid.uuid4().hex}",
            "Step": spec["step"],
        }
    )
    return spec["step"]
