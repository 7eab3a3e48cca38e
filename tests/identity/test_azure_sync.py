"""A full sync in azure mode against the local identity stack: the app under the dev host,
unchanged, with settings that point it at the stack. Same rows as the same files synced in
emulator mode; a re-sync after the tokens expired gets new ones and finds nothing changed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

import mediagen
from devhost.azurite import Azurite, EmulatorAccount, emulator_key
from tests.api.conftest import ORIGIN
from tests.conftest import CUSTOMER_ACCOUNT
from tests.identity_stack.stack import IdentityStack
from tests.sync.harness import Api, running_service

#: Tokens are served from MSAL's cache only while more than 5 minutes remain: 302 s tokens are
#: reused for 2 s, then renewed.
SHORT_TOKEN_SECONDS = 302


@pytest.fixture(scope="module")
def files() -> list[tuple[str, bytes]]:
    return mediagen.mixed_set(
        40, seed=23, image_size=(160, 120), video_size=(64, 48), video_seconds=0.3
    )


@pytest.fixture(scope="module")
def emulator_api(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    with running_service(
        azurite, platform_account, [customer_account], tmp_path_factory.mktemp("emu"),
        hub="IdEmu",
    ) as (_, api, _):  # fmt: skip
        yield api


@pytest.fixture(scope="module")
def azure_api(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    identity_stack: IdentityStack,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    with running_service(
        azurite, platform_account, [customer_account], tmp_path_factory.mktemp("az"),
        hub="IdAzure", extra_env=identity_stack.app_settings(),
    ) as (_, api, _):  # fmt: skip
        yield api


def _rows(api: Api, org: str, conn: str) -> dict[str, tuple[Any, ...]]:
    return {
        a["name"]: (a["status"], a["reason"], a["kind"], a.get("width"), a.get("height"))
        for a in api.assets(org, conn)
    }


def _sync(api: Api, container: str, org: str) -> tuple[str, dict[str, Any]]:
    api.put_org(org)
    conn = api.connect(org, account=CUSTOMER_ACCOUNT, container=container)
    return conn, api.sync(org, conn)


def test_full_sync_in_azure_mode_matches_emulator_mode_and_survives_token_expiry(
    stack: IdentityStack,
    emulator_api: Api,
    azure_api: Api,
    customer_account: EmulatorAccount,
    files: list[tuple[str, bytes]],
    unique_name: str,
    tmp_path: Path,
) -> None:
    # The same files in the emulator's account and in the customer's Azure account.
    plain = ContainerClient.from_connection_string(customer_account.connection_string, unique_name)
    plain.create_container()
    secure = BlobServiceClient(
        f"{stack.azurite.endpoint}/{CUSTOMER_ACCOUNT}",
        credential={
            "account_name": CUSTOMER_ACCOUNT,
            "account_key": emulator_key(CUSTOMER_ACCOUNT),
        },
        connection_verify=stack.ca_file,
    ).create_container(unique_name)
    for name, data in files:
        plain.upload_blob(name, data)
        secure.upload_blob(name, data)
    try:
        tenant = stack.new_tenant()
        stack.add_account(CUSTOMER_ACCOUNT, tenant)
        stack.set_cors(CUSTOMER_ACCOUNT, ORIGIN)
        stack.register_app(tenant)
        stack.assign_reader(CUSTOMER_ACCOUNT, condition=unique_name)
        stack.directory.token_lifetime_seconds = SHORT_TOKEN_SECONDS

        emu_conn, emu_view = _sync(emulator_api, unique_name, f"org-e{unique_name}")
        az_conn, az_view = _sync(azure_api, unique_name, f"org-a{unique_name}")
        assert emu_view["status"] == az_view["status"] == "completed"
        assert az_view["counts"] == emu_view["counts"]
        assert az_view["counts"]["synced"] > 0 and az_view["counts"]["skipped"] > 0
        emu_rows = _rows(emulator_api, f"org-e{unique_name}", emu_conn)
        assert _rows(azure_api, f"org-a{unique_name}", az_conn) == emu_rows
        assert len(emu_rows) == len(files)
        # Every storage request of the azure run carried a token of the customer's tenant.
        first = stack.token_requests()
        assert first and {t[1] for t in first} == {tenant}
        assert not [e for e in stack.storage_events() if e[3] in ("denied", "expired")]
        reads = [e for e in stack.storage_events() if e[1] == "GET" and e[3] == "allowed"]
        assert len(reads) > len(files) // 2  # listing and ranged reads went through the front

        # The tokens expire; a re-sync renews them and finds nothing changed.
        time.sleep(SHORT_TOKEN_SECONDS - 300 + 0.5)
        stack.expire_tokens_issued_until_now()
        time.sleep(1.1)
        again = azure_api.sync(f"org-a{unique_name}", az_conn)
        assert again["status"] == "completed"
        assert again["counts"]["added"] == again["counts"]["removed"] == 0
        assert _rows(azure_api, f"org-a{unique_name}", az_conn) == emu_rows
        assert len(stack.token_requests()) > len(first)
        refused = [e for e in stack.storage_events() if e[3] == "expired"]
        assert not refused, f"an expired token was sent: {refused[:3]}"
    finally:
        plain.delete_container()
        secure.delete_container()
