"""Fixtures of the azure-mode tests: the app, unchanged, against the local identity stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.azurite import emulator_key
from shared import wiring
from tests.api.conftest import api_env, client, new_connection, org_id, paid_org
from tests.conftest import CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT
from tests.identity_stack.stack import IdentityStack, running_stack
from tests.support.blobs import MakeContainer, container_factory

__all__ = [
    "api_env",
    "azure_env",
    "client",
    "customer_blobs",
    "identity_stack",
    "new_connection",
    "org_id",
    "paid_org",
    "seed",
    "stack",
]


@pytest.fixture(scope="session")
def identity_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityStack]:
    with running_stack(
        tmp_path_factory.mktemp("identity"), (CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT)
    ) as running:
        yield running


@pytest.fixture
def stack(identity_stack: IdentityStack) -> Iterator[IdentityStack]:
    identity_stack.reset()
    yield identity_stack
    identity_stack.reset()


@pytest.fixture
def azure_env(api_env: pytest.MonkeyPatch, stack: IdentityStack) -> pytest.MonkeyPatch:
    """The app's settings in azure mode, pointed at the stack (metadata stays on Azurite)."""
    for key, value in stack.app_settings().items():
        api_env.setenv(key, value)
    wiring.reset()
    return api_env


@pytest.fixture
def customer_blobs(stack: IdentityStack) -> BlobServiceClient:
    """The customer's own view of their account (shared key, straight to Azurite)."""
    return BlobServiceClient(
        f"{stack.azurite.endpoint}/{CUSTOMER_ACCOUNT}",
        credential={
            "account_name": CUSTOMER_ACCOUNT,
            "account_key": emulator_key(CUSTOMER_ACCOUNT),
        },
        connection_verify=stack.ca_file,
    )


Seed = MakeContainer


@pytest.fixture
def seed(customer_blobs: BlobServiceClient) -> Iterator[Seed]:
    """Create a uniquely named container in the customer's account holding ``blobs``."""
    with container_factory(customer_blobs) as make:
        yield make
