"""GET /api/health: anonymous, says only whether the metadata store and the task hub answer."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import azure.durable_functions as df
import httpx
import pytest

from api.health import health
from devhost.azurite import PROJECT_ROOT, EmulatorAccount, free_port
from devhost.invoke import close_sdk_session
from devhost.testing import DevHostProcess
from shared.settings import Settings
from shared.store import Store


@pytest.fixture(scope="module")
def host(
    platform_account: EmulatorAccount, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevHostProcess]:
    env = {
        "AzureWebJobsStorage": platform_account.connection_string,
        "METADATA_STORAGE_CONNECTION": platform_account.connection_string,
        "CUSTOMER_STORAGE_MODE": "emulator",
        "EMULATOR_ACCOUNTS": f"{platform_account.name}:{platform_account.key}",
    }
    with DevHostProcess(
        PROJECT_ROOT, env=env, workspace=tmp_path_factory.mktemp("health"), require_keys=True
    ) as running:
        yield running


def settings_for(connection: str, account: EmulatorAccount) -> Settings:
    return Settings.from_env(
        {
            "METADATA_STORAGE_CONNECTION": connection,
            "CUSTOMER_STORAGE_MODE": "emulator",
            "EMULATOR_ACCOUNTS": f"{account.name}:{account.key}",
        }
    )


def dead_table_endpoint(account: EmulatorAccount) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account.name};AccountKey={account.key};"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/{account.name};"
    )


def run_health(settings: Settings, binding: str) -> tuple[int, dict[str, object]]:
    store = Store(settings)

    async def once() -> tuple[int, dict[str, object]]:
        try:
            return await health(store=store, client=df.DurableOrchestrationClient(binding))
        finally:
            await close_sdk_session()
            store.close()

    return asyncio.run(once())


def test_healthy_service_answers_anonymously_with_status_words_only(
    host: DevHostProcess, platform_account: EmulatorAccount
) -> None:
    answer = httpx.get(host.url("/api/health"), timeout=30)  # no key, keys enforced
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body == {"status": "ok", "metadataStore": "reachable", "taskHub": "reachable"}
    # Nothing an anonymous caller should learn: no account, host, hub name, version or key.
    assert platform_account.name not in answer.text
    assert platform_account.key not in answer.text
    assert not re.search(r"\d+\.\d+|127\.0\.0\.1|BlobSyncHub|TestHubName", answer.text)


def test_metadata_store_down_is_a_503_naming_only_the_dependency(
    host: DevHostProcess, platform_account: EmulatorAccount
) -> None:
    settings = settings_for(dead_table_endpoint(platform_account), platform_account)
    status, body = run_health(settings, host.durable_client_binding())
    assert status == 503
    assert body == {"status": "degraded", "metadataStore": "unreachable", "taskHub": "reachable"}


def test_task_hub_unreachable_is_a_503(
    host: DevHostProcess, platform_account: EmulatorAccount
) -> None:
    # The binding of a host that no longer listens: every management URL points at a dead port.
    binding = json.loads(host.durable_client_binding())
    dead = f"127.0.0.1:{free_port()}"
    text = re.sub(r"127\.0\.0\.1:\d+", dead, json.dumps(binding))
    settings = settings_for(platform_account.connection_string, platform_account)
    status, body = run_health(settings, text)
    assert status == 503
    assert body == {"status": "degraded", "metadataStore": "reachable", "taskHub": "unreachable"}
