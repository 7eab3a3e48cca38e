"""Session fixtures: one real Azurite with two accounts, started from node_modules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from devhost.azurite import DEV_ACCOUNT, Azurite, EmulatorAccount

#: The customer's account: customer blobs live in an account the service does not own.
CUSTOMER_ACCOUNT = "contosomedia"
#: A second customer account, for least-privilege and cross-account checks.
OTHER_CUSTOMER_ACCOUNT = "fabrikamstore"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    workspace: Path = tmp_path_factory.mktemp("azurite")
    server = Azurite(workspace, accounts=(DEV_ACCOUNT, CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def platform_account(azurite: Azurite) -> EmulatorAccount:
    """The platform's metadata account (Azure Tables for connections, assets, runs)."""
    return azurite.account(DEV_ACCOUNT)


@pytest.fixture(scope="session")
def customer_account(azurite: Azurite) -> EmulatorAccount:
    """The customer's storage account holding the blobs to sync."""
    return azurite.account(CUSTOMER_ACCOUNT)


@pytest.fixture(scope="session")
def other_customer_account(azurite: Azurite) -> EmulatorAccount:
    return azurite.account(OTHER_CUSTOMER_ACCOUNT)


@pytest.fixture
def unique_name() -> str:
    """A short unique lowercase name usable as a container or table suffix."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def container(customer_account: EmulatorAccount, unique_name: str) -> Iterator[ContainerClient]:
    """A fresh container in the customer's account, deleted afterwards."""
    client = ContainerClient.from_connection_string(customer_account.connection_string, unique_name)
    client.create_container()
    yield client
    client.delete_container()
