"""What happens when a run ends: the sync orchestration's last activity (or, for a cancelled
run, a one-step orchestration the cancel route starts) applies the blob events queued during the
run and starts the run-end webhook's delivery orchestration."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shared import names
from shared.autosync.store import AutosyncRepository
from shared.autosync.webhooks import webhook_instance
from shared.settings import Settings
from shared.sync import control

__all__ = ["after_cancel", "start_webhook"]

_log = logging.getLogger(__name__)


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
    config = await asyncio.to_thread(repo.get, org, connection_id)
    if not config.webhook_url:
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


async def after_cancel(
    *, org: str, connection_id: str, run_id: str, client: control.DurableClient
) -> None:
    """A cancelled run's orchestration never reaches its last steps: run them on their own
    (the connection's asset counts, queued blob events, the webhook)."""
    instance = f"after-{connection_id}-{run_id}"
    if await client.get_status(instance):
        return
    payload = {"org": org, "connectionId": connection_id, "runId": run_id, "cancelled": True}
    await client.start_new(names.AFTER_RUN_ORCHESTRATOR, instance, payload)
