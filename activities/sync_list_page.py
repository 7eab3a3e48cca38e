"""Activity: list one page of the customer's container and stage the blobs to inspect."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df

from shared import names, telemetry
from shared.errors import DomainError
from shared.sync import steps
from shared.sync.failures import metadata_error, step_error
from shared.sync.manifest import walk_seed
from shared.sync.model import ListedPage, RunStatus
from shared.wiring import wiring

bp = df.Blueprint()


async def _list(payload: dict[str, Any]) -> ListedPage:
    rt = wiring()
    connection = rt.connections.get(payload["org"], payload["connectionId"])
    first = int(payload["index"]) == 0
    if first:  # the run's first step: it is listing now
        rt.runs.update(
            connection.connection_id,
            payload["runId"],
            status=RunStatus.LISTING,
            only_if_not_terminal=True,
        )
    # The previous run's walk of the container, to start this one with all its folders at once.
    seed = (
        walk_seed(run_id=payload["runId"], connection=connection, staging=rt.staging)
        if payload.get("cursor") is None
        else None
    )
    async with rt.storage.container_client(connection.account, connection.container) as cc:
        page = await steps.list_page(
            snapshot=(
                (
                    lambda: steps.prepare_run(
                        run_id=payload["runId"],
                        connection=connection,
                        assets=rt.assets,
                        staging=rt.staging,
                    )
                )
                if first
                else None
            ),
            run_id=payload["runId"],
            index=int(payload["index"]),
            cursor=payload.get("cursor"),
            prefix=connection.prefix,
            page_size=int(payload["pageSize"]),
            width=int(payload.get("width", 1)),
            container=cc,
            staging=rt.staging,
            seed=seed,
        )
    if rt.runs.get(connection.connection_id, payload["runId"]).status.terminal:
        # Cancelled while this page was listed: what it just staged must not stay behind.
        rt.staging.delete_run(payload["runId"])
    return page


@bp.activity_trigger(input_name="payload", activity=names.LIST_PAGE_ACTIVITY)
@telemetry.traced_activity("sync.list_page")
def sync_list_page(payload: dict[str, Any]) -> ListedPage:
    # A sync function runs on the worker's thread pool; its own loop drives the aio clients.
    try:
        return asyncio.run(_list(payload))
    except DomainError:
        raise
    except steps.CustomerStorageError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        raise step_error("listing", cause, emulator=wiring().storage.emulator) from exc
    except Exception as exc:  # the platform's own store (tables, staging blobs)
        raise metadata_error("listing", exc) from exc
