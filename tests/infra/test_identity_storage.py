"""Identity-based connections end to end: the dev host's task hub (``AzureWebJobsStorage__*``)
and the app's metadata store (``METADATA_STORAGE__*``) reached with a managed identity -
azure-identity's managed identity credential against a local App Service identity endpoint -
and Azurite over HTTPS with bearer tokens. A full sync gives the same rows as with connection
strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import PROJECT_ROOT, EmulatorAccount
from devhost.config import ConfigError, StorageConnection
from devhost.testing import DevHostProcess
from tests.infra.identity_storage import IdentityStorage, running_identity_storage
from tests.sync.harness import Api

CLIENT_ID = "3f8c1a2e-0000-4000-8000-00000000abcd"
ACCOUNT = "platformmeta"

FILES: dict[str, bytes] = {
    "a/one.jpg": mediagen.images.jpeg(64, 48, seed=11),
    "a/two.png": mediagen.images.png(64, 48, seed=12),
    "a/turned.jpg": mediagen.images.jpeg(64, 48, seed=13, orientation=8),
    "b/empty.png": b"",
    "b/notes.txt": b"hello",
}


# --------------------------------------------------------------------------- setting forms
def test_account_name_form_gives_the_azure_endpoints() -> None:
    conn = StorageConnection.from_environment(
        {
            "AzureWebJobsStorage__accountName": "stabc123",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": CLIENT_ID,
        }
    )
    assert conn.uses_identity and conn.account_key == ""
    assert conn.table_endpoint == "https://stabc123.table.core.windows.net"
    assert conn.blob_endpoint == "https://stabc123.blob.core.windows.net"
    assert (conn.credential, conn.client_id) == ("managedidentity", CLIENT_ID)
    with pytest.raises(ConfigError):
        _ = conn.connection_string  # never a key-based string for an identity connection


def test_service_uri_form_names_the_account_from_the_path() -> None:
    conn = StorageConnection.from_environment(
        {
            "AzureWebJobsStorage__tableServiceUri": "https://127.0.0.1:10443/devhub/",
            "AzureWebJobsStorage__blobServiceUri": "https://127.0.0.1:10444/devhub",
        }
    )
    assert conn.account_name == "devhub"
    assert conn.table_endpoint == "https://127.0.0.1:10443/devhub"
    assert conn.credential == ""  # DefaultAzureCredential: a developer's login works too


@pytest.mark.parametrize(
    "env",
    [
        {"AzureWebJobsStorage__accountName": "Not_An_Account"},
        {"AzureWebJobsStorage__accountName": "stabc123", "AzureWebJobsStorage__credential": "key"},
        {"AzureWebJobsStorage__tableServiceUri": "http://127.0.0.1:1/x"},  # bearer needs TLS
        {"AzureWebJobsStorage__tableServiceUri": "https://127.0.0.1:1/x"},  # no blob URI
        {"AzureWebJobsStorage__clientId": CLIENT_ID},  # no account
    ],
)
def test_unusable_identity_forms_are_refused_with_the_setting_named(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__"):
        StorageConnection.from_environment(env)


def test_a_connection_string_still_wins() -> None:
    conn = StorageConnection.from_environment(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AzureWebJobsStorage__accountName": "x",
        }
    )
    assert not conn.uses_identity


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityStorage]:
    with running_identity_storage(tmp_path_factory.mktemp("idstore"), ACCOUNT, CLIENT_ID) as s:
        yield s


@pytest.fixture(scope="module")
def seeded(customer_account: EmulatorAccount) -> Iterator[str]:
    container = ContainerClient.from_connection_string(
        customer_account.connection_string, "identity-e2e"
    )
    if not container.exists():
        container.create_container()
    for name, data in FILES.items():
        container.upload_blob(name, data, overwrite=True)
    yield "identity-e2e"
    container.delete_container()


def _sync_rows(
    env: dict[str, str], workspace: Path, customer: EmulatorAccount, container: str, org: str
) -> tuple[dict[str, Any], set[tuple[str, str, str | None]]]:
    with DevHostProcess(PROJECT_ROOT, env=env, workspace=workspace) as host:
        api = Api(host.base_url)
        try:
            api.put_org(org)
            conn = api.connect(org, account=customer.name, container=container)
            view = api.sync(org, conn)
            rows = {(a["name"], a["status"], a.get("reason")) for a in api.assets(org, conn)}
        finally:
            api.close()
    return view, rows


def _app_env(stack: IdentityStorage, customer: EmulatorAccount) -> dict[str, str]:
    return {
        **stack.tls_env(),
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "CUSTOMER_STORAGE_MODE": "emulator",
        "EMULATOR_BLOB_ENDPOINT": customer.blob_endpoint.rsplit("/", 1)[0],
        "EMULATOR_ACCOUNTS": f"{customer.name}:{customer.key}",
        "SYNC_PAGE_SIZE": "3",
        "SYNC_BATCH_SIZE": "2",
    }


def test_full_sync_over_managed_identity_matches_connection_strings(
    stack: IdentityStorage,
    seeded: str,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    identity_env = {
        **_app_env(stack, customer_account),
        **stack.identity_env(),
        # The task hub: identity-based host storage (no key anywhere).
        "AzureWebJobsStorage__tableServiceUri": stack.table_endpoint,
        "AzureWebJobsStorage__blobServiceUri": stack.blob_endpoint,
        "AzureWebJobsStorage__queueServiceUri": stack.queue_endpoint,
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": CLIENT_ID,
        # The metadata store: identity-based too.
        "METADATA_STORAGE__tableServiceUri": stack.table_endpoint,
        "METADATA_STORAGE__blobServiceUri": stack.blob_endpoint,
        "METADATA_STORAGE__credential": "managedidentity",
        "METADATA_STORAGE__clientId": CLIENT_ID,
    }
    assert not any(stack.key in value for value in identity_env.values())
    view, rows = _sync_rows(
        identity_env, tmp_path_factory.mktemp("idhost"), customer_account, seeded, "idorg"
    )
    assert view["status"] == "completed", view
    assert view["counts"]["synced"] == 2
    assert view["counts"]["skippedByReason"] == {"exif_orientation": 1, "empty": 1}
    # Tokens came from the identity endpoint, for storage, for the configured identity.
    assert stack.token_requests, "no token was requested"
    assert {r.get("client_id") for r in stack.token_requests} == {CLIENT_ID}
    assert {r["resource"].rstrip("/") for r in stack.token_requests} == {
        "https://storage.azure.com"
    }
    # The task hub and the app's tables live in the HTTPS account reached with those tokens.
    tables = TableServiceClient.from_connection_string(
        stack.connection_string, connection_verify=str(stack.cert_file)
    )
    names = {t.name for t in tables.list_tables()}
    assert {"Connections", "Assets", "SyncRuns"} <= names
    assert any(name.endswith("Instances") for name in names)

    keyed_env = {
        **_app_env(stack, customer_account),
        "AzureWebJobsStorage": stack.connection_string,
        "METADATA_STORAGE_CONNECTION": stack.connection_string,
    }
    keyed_view, keyed_rows = _sync_rows(
        keyed_env, tmp_path_factory.mktemp("keyhost"), customer_account, seeded, "keyorg"
    )
    assert keyed_view["status"] == "completed"
    assert rows == keyed_rows
    assert len(rows) == len(FILES)
