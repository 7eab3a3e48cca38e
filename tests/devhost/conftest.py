"""Fixtures for the dev host's tests: the scenario app, a host per module, an SDK client runner."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from azure.durable_functions import DurableOrchestrationClient, OrchestrationRuntimeStatus
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.utils import http_utils

from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess

APP_DIR = Path(__file__).parent / "app"
T = TypeVar("T")

FINISHED = {
    OrchestrationRuntimeStatus.Completed,
    OrchestrationRuntimeStatus.Failed,
    OrchestrationRuntimeStatus.Terminated,
    OrchestrationRuntimeStatus.Canceled,
}


def new_hub_name() -> str:
    """Task hub names: letters and digits, starting with a letter."""
    return "Dh" + uuid.uuid4().hex[:12]


def host_env(account: EmulatorAccount, hub: str) -> dict[str, str]:
    return {"AzureWebJobsStorage": account.connection_string, "DEVHOST_TEST_HUB": hub}


@contextmanager
def started(host: DevHostProcess) -> Iterator[DevHostProcess]:
    """``host`` started; on the way out closed (stopped, its temporary workspace removed)."""
    host.start()
    try:
        yield host
    finally:
        host.close()


@pytest.fixture(scope="module")
def hub_name() -> str:
    return new_hub_name()


@pytest.fixture(scope="module")
def devhost(platform_account: EmulatorAccount, hub_name: str) -> Iterator[DevHostProcess]:
    """The scenario app on a dev host of its own, with this module's task hub."""
    with started(DevHostProcess(APP_DIR, env=host_env(platform_account, hub_name))) as host:
        yield host


def run_client(binding: str, scenario: Callable[[DurableOrchestrationClient], Awaitable[T]]) -> T:
    """Run ``scenario`` with a real ``DurableOrchestrationClient`` built from ``binding``.

    The SDK keeps one module-global aiohttp session; it is closed before the loop ends so the
    next ``asyncio.run`` starts clean.
    """

    async def main() -> T:
        client = DurableOrchestrationClient(binding)
        try:
            return await scenario(client)
        finally:
            await http_utils._close_session()

    return asyncio.run(main())


async def wait_for(
    client: DurableOrchestrationClient,
    instance_id: str,
    *,
    seconds: float = 60.0,
    until: Callable[[DurableOrchestrationStatus], bool] | None = None,
    **status_options: Any,
) -> DurableOrchestrationStatus:
    """Poll ``get_status`` until ``until(status)`` (default: a terminal status)."""
    done = until or (lambda s: s.runtime_status in FINISHED)
    deadline = time.monotonic() + seconds
    while True:
        status = await client.get_status(instance_id, **status_options)
        if status and done(status):
            return status
        if time.monotonic() > deadline:
            state = status.runtime_status if status else "not found"
            raise AssertionError(f"instance {instance_id} still {state} after {seconds}s")
        await asyncio.sleep(0.05)
