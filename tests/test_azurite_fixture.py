"""The harness talks to a real Azurite on both accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from devhost.azurite import (
    EMULATOR_NODE_OPTIONS,
    PROJECT_ROOT,
    Azurite,
    EmulatorAccount,
    emulator_environment,
)


def test_both_accounts_store_tables_and_blobs(
    platform_account: EmulatorAccount, customer_account: EmulatorAccount, unique_name: str
) -> None:
    for account in (platform_account, customer_account):
        tables = TableServiceClient.from_connection_string(account.connection_string)
        table = tables.create_table(f"Probe{unique_name}")
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "answer": 42})
        assert table.get_entity("p", "r")["answer"] == 42

        blobs = BlobServiceClient.from_connection_string(account.connection_string)
        container = blobs.create_container(f"probe-{unique_name}")
        container.upload_blob("folder/data.bin", bytes(range(256)) * 4)
        ranged = container.download_blob("folder/data.bin", offset=10, length=5).readall()
        assert ranged == bytes([10, 11, 12, 13, 14])


def test_accounts_are_isolated(
    platform_account: EmulatorAccount, customer_account: EmulatorAccount, unique_name: str
) -> None:
    customer = BlobServiceClient.from_connection_string(customer_account.connection_string)
    customer.create_container(f"only-{unique_name}")
    platform = BlobServiceClient.from_connection_string(platform_account.connection_string)
    names = {c.name for c in platform.list_containers()}
    assert f"only-{unique_name}" not in names


def test_azurite_runs_from_project_node_modules(azurite: Azurite) -> None:
    assert Azurite.executable().is_relative_to(PROJECT_ROOT / "node_modules")
    assert azurite.pid is not None
    assert Path(f"/proc/{azurite.pid}").exists()


def test_the_emulator_runs_with_its_node_options_after_the_callers(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The running emulator got the young-generation size that keeps its listings fast.
    environ = Path(f"/proc/{azurite.pid}/environ").read_bytes().split(b"\0")
    options = next(v for v in environ if v.startswith(b"NODE_OPTIONS=")).decode()
    assert EMULATOR_NODE_OPTIONS in options.split("=", 1)[1].split()
    # A developer's own Node options are kept, before the emulator's.
    monkeypatch.setenv("NODE_OPTIONS", "--trace-warnings")
    env = emulator_environment(["one", "two"])
    assert env["NODE_OPTIONS"] == f"--trace-warnings {EMULATOR_NODE_OPTIONS}"
    assert [part.split(":")[0] for part in env["AZURITE_ACCOUNTS"].split(";")] == ["one", "two"]
