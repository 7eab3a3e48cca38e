"""What happens when a run ends (called by the sync orchestration after its finish step, and by
the cancel route): blobs that events touched during the run are re-checked against the
container, and the run-end webhook's delivery orchestration is started."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from azure.data.tables.aio import TableClient as AsyncTableClient
from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

from shared import names
from shared.autosync.events import reconcile_names
from shared.autosync.store import AutosyncRepository
from shared.autosync.webhooks import webhook_instance
from shared.settings import Settings
from shared.sync import control
from shared.sync.steps import Inspector

__all__ = ["recheck_after_run", "start_webhook"]

_log = logging.getLogger(__name__)


async def recheck_after_run(
    *,
    connection_id: str,
    repo: AutosyncRepository,
    container: AsyncContainerClient,
    assets: AsyncTableClient,
    inspector: Inspector,
    charge: Callable[..., int],
    rows_per_kind: Mapping[str, int],
) -> int:
    items = list(repo.rechecks(connection_id))
    if not items:
        return 0
    await reconcile_names(
        {name: ("", "recheck") for _, name in items},
        connection_id=connection_id,
        container=container,
        assets=assets,
        inspector=inspector,
        charge=charge,
        rows_per_kind=rows_per_kind,
    )
    for rk, _ in items:
        repo.drop_recheck(connection_id, rk)
    return len(items)


async def start_webhook(
    *,
    org: str,
    connection_id: str,
    run_id: str,
    client: control.DurableClient,
    repo: AutosyncRepository,
    settings: Settings,
) -> bool:
    """Start the delivery orchestration of this run's webhook (once per run)."""
    if not repo.get(org, connection_id).webhook_url:
        return False
    instance = webhook_instance(connection_id, run_id)
    if await client.get_status(instance):
        return False
    payload: dict[str, Any] = {
        "org": org,
        "connectionId": connection_id,
        "runId": run_id,
        "maxAttempts": settings.webhook_max_attempts,
        "baseSeconds": settings.webhook_retry_base_seconds,
    }
    await client.start_new(names.WEBHOOK_ORCHESTRATOR, instance, payload)
    return True
