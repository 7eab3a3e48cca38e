"""``--require-keys``: function and admin keys are enforced as in Azure."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.DurableOrchestrationStatus import (
    DurableOrchestrationStatus,
)

from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess

from .conftest import APP_DIR, host_env, new_hub_name, run_client, started, wait_for

pytestmark = pytest.mark.slow  # starts dev host subprocesses


@pytest.fixture(scope="module")
def secured(platform_account: EmulatorAccount) -> Iterator[DevHostProcess]:
    with started(
        DevHostProcess(APP_DIR, env=host_env(platform_account, new_hub_name()), require_keys=True)
    ) as host:
        yield host


def test_function_level_route_needs_a_function_key(secured: DevHostProcess) -> None:
    url = secured.url("/api/secure/function")
    keys = secured.keys()
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, params={"code": "wrong"}).status_code == 401
    ok = httpx.get(url, params={"code": keys.function_default})
    assert (ok.status_code, ok.text) == (200, "function-level ok")
    assert httpx.get(url, headers={"x-functions-key": keys.function_default}).status_code == 200
    assert httpx.get(url, headers={"x-functions-key": keys.master}).status_code == 200


def test_admin_level_route_and_admin_api_need_the_master_key(secured: DevHostProcess) -> None:
    keys = secured.keys()
    url = secured.url("/api/secure/admin")
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, params={"code": keys.function_default}).status_code == 401
    assert httpx.get(url, params={"code": keys.master}).text == "admin-level ok"
    status = secured.url("/admin/host/status")
    assert httpx.get(status, params={"code": keys.function_default}).status_code == 401
    assert httpx.get(status, params={"code": keys.master}).json()["state"] == "Running"
    assert httpx.get(secured.url("/admin/host/ping")).status_code == 200  # liveness stays open


def test_anonymous_routes_stay_open_and_keys_are_not_logged(secured: DevHostProcess) -> None:
    assert httpx.get(secured.url("/api/items/5")).json() == {"kind": "id", "id": 5}
    log = secured.log_text()
    keys = secured.keys()
    assert keys.master not in log and keys.function_default not in log
    assert "keys.json" in log  # where to find them is logged instead


def test_durable_webhooks_need_the_system_key_which_status_urls_carry(
    secured: DevHostProcess,
) -> None:
    started = httpx.post(secured.url("/api/orchestrators/fan_out"), json={"n": 2})
    assert started.status_code == 202
    status_url = started.json()["statusQueryGetUri"]
    assert f"code={secured.keys().durable_system}" in status_url
    assert httpx.get(status_url).status_code in (200, 202)
    bare = status_url.split("?")[0]
    assert httpx.get(bare).status_code == 401

    async def scenario(client: DurableOrchestrationClient) -> DurableOrchestrationStatus:
        return await wait_for(client, started.json()["id"])

    status = run_client(secured.durable_client_binding(), scenario)  # rpcBaseUrl: no key needed
    assert status.output == 1
