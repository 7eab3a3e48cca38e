"""Activity: inspect a slice of a staged page and upsert its asset rows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import azure.durable_functions as df

from shared import names, telemetry
from shared.customer_storage import RetryProfile
from shared.errors import DomainError
from shared.store import month_of
from shared.sync import steps
from shared.sync.failures import metadata_error, step_error
from shared.sync.inspector import inspect_entry
from shared.sync.model import BatchResult, batch_key
from shared.wiring import wiring

bp = df.Blueprint()


async def _inspect(payload: dict[str, Any]) -> BatchResult:
    rt = wiring()
    org_id = payload["org"]
    connection = rt.connections.get(org_id, payload["connectionId"])
    org = rt.orgs.require(org_id)
    month = month_of()

    def charge(*, key: str, costs: Sequence[int]) -> int:
        return rt.usage.charge(org_id, month, key=key, costs=costs, limit=org.monthly_quota)

    async with (
        rt.storage.container_client(
            connection.account, connection.container, profile=RetryProfile.READS
        ) as cc,
        rt.assets_async() as assets,
    ):
        result = await steps.inspect_batch(
            run_id=payload["runId"],
            connection_id=connection.connection_id,
            ref=payload["ref"],
            start=int(payload["start"]),
            end=int(payload["end"]),
            container=cc,
            assets=assets,
            staging=rt.staging,
            inspector=inspect_entry,
            charge=charge,
            rows_per_kind=rt.rows_per_kind,
            read_concurrency=rt.settings.sync_read_concurrency,
            report=rt.runs.progress_board().reporter(
                connection.connection_id,
                payload["runId"],
                batch_key(int(payload.get("page", 0)), int(payload["start"])),
            ),
        )
    # A cancel does not stop an inspection in flight: its rows must still reach the counts,
    # and what it staged must not stay behind.
    await asyncio.to_thread(
        steps.settle_if_cancelled,
        org_id,
        connection.connection_id,
        payload["runId"],
        assets=rt.assets,
        connections=rt.connections,
        runs=rt.runs,
        staging=rt.staging,
    )
    return result


@bp.activity_trigger(input_name="payload", activity=names.INSPECT_BATCH_ACTIVITY)
@telemetry.traced_activity("sync.inspect_batch")
def sync_inspect_batch(payload: dict[str, Any]) -> BatchResult:
    try:
        return asyncio.run(_inspect(payload))
    except DomainError:
        raise
    except steps.CustomerStorageError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        raise step_error("inspection", cause, emulator=wiring().storage.emulator) from exc
    except Exception as exc:  # the platform's own store (tables, staging blobs)
        raise metadata_error("inspection", exc) from exc
