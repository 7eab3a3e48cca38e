"""Fixtures for the HTTP API tests: the app pointed at the session's Azurite (platform account
for the metadata tables, two customer accounts in emulator mode), an in-process client, and
unique organisations and containers per test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.azurite import EmulatorAccount
from shared import wiring
from tests.api.client import ApiClient
from tests.support.blobs import MakeContainer, container_factory

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
APP_ID = "0a1b2c3d-1111-4222-8333-944455556666"
APP_NAME = "Datature Vi"
ORIGIN = "https://vi.datature.com"


def emulator_env(customer: EmulatorAccount, other: EmulatorAccount) -> dict[str, str]:
    return {
        "CUSTOMER_STORAGE_MODE": "emulator",
        "EMULATOR_BLOB_ENDPOINT": customer.blob_endpoint.rsplit("/", 1)[0],
        "EMULATOR_ACCOUNTS": f"{customer.name}:{customer.key};{other.name}:{other.key}",
    }


@pytest.fixture
def api_env(
    monkeypatch: pytest.MonkeyPatch,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    other_customer_account: EmulatorAccount,
) -> Iterator[pytest.MonkeyPatch]:
    """The app's environment: Azurite for metadata and customer storage (emulator mode)."""
    for key, value in SAMPLE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("METADATA_STORAGE_CONNECTION", platform_account.connection_string)
    monkeypatch.setenv("PLATFORM_APP_CLIENT_ID", APP_ID)
    monkeypatch.setenv("PLATFORM_APP_NAME", APP_NAME)
    monkeypatch.setenv("PLATFORM_ORIGIN", ORIGIN)
    for key, value in emulator_env(customer_account, other_customer_account).items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield monkeypatch
    wiring.reset()


@pytest.fixture
def client(api_env: pytest.MonkeyPatch) -> ApiClient:
    return ApiClient()


@pytest.fixture
def org_id() -> str:
    return "org-" + uuid.uuid4().hex[:12]


@pytest.fixture
def paid_org(client: ApiClient, org_id: str) -> str:
    response = client.put(f"/api/orgs/{org_id}", json={"plan": "paid", "monthlyQuota": 1000})
    assert response.status == 201, response.json
    return org_id


@pytest.fixture
def blob_service(customer_account: EmulatorAccount) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(customer_account.connection_string)


@pytest.fixture
def make_container(blob_service: BlobServiceClient) -> Iterator[MakeContainer]:
    """Create a uniquely named container in the customer account holding ``blobs``."""
    with container_factory(blob_service) as make:
        yield make


@pytest.fixture
def new_connection(client: ApiClient, paid_org: str) -> Callable[..., dict[str, object]]:
    """Create a connection through the API and return its JSON."""

    def create(container: str, **fields: object) -> dict[str, object]:
        body = {
            "dataset": "ds1",
            "name": "conn " + uuid.uuid4().hex[:6],
            "storageAccount": "contosomedia",
            "container": container,
            **fields,
        }
        response = client.post(f"/api/orgs/{paid_org}/connections", json=body)
        assert response.status == 201, response.json
        connection = response.json["connection"]
        assert isinstance(connection, dict)
        return connection

    return create
