"""Settings: one frozen object from the environment; the sample lists every setting."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import Settings, StorageMode

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]


def test_sample_builds_emulator_settings() -> None:
    settings = Settings.from_env(SAMPLE)
    assert settings.storage_mode is StorageMode.EMULATOR
    assert settings.emulator_key("devstoreaccount1")
    assert settings.data_rows_per_image == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.sync_page_size = 1  # type: ignore[misc]


def test_sample_lists_every_setting_the_app_reads() -> None:
    source = (ROOT / "shared" / "settings.py").read_text()
    read = set(re.findall(r"env(?:\.get)?\(\s*\"([A-Za-z_]+)\"", source))
    read |= set(re.findall(r"_int\(env, \"([A-Z_]+)\"", source))
    assert read, "the pattern must find the settings"
    assert read <= set(SAMPLE), sorted(read - set(SAMPLE))


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({**SAMPLE, "PLATFORM_APP_CLIENT_SECRET": "s3cr3t-value"})
    text = repr(settings)
    assert "s3cr3t-value" not in text
    assert "Eby8vdM02" not in text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CUSTOMER_STORAGE_MODE", "s3"),
        ("SYNC_PAGE_SIZE", "9000"),
        ("SYNC_BATCH_SIZE", "many"),
        ("PLATFORM_ORIGIN", "https://evil.example/path?x"),
        ("EMULATOR_ACCOUNTS", "NotValid:key"),
        ("PLATFORM_APP_CLIENT_ID", "my-app"),
    ],
)
def test_bad_values_name_the_setting_not_the_value(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({**SAMPLE, name: value})
    assert info.value.setting == name
    assert value not in str(info.value)


def test_metadata_store_is_required() -> None:
    env = {k: v for k, v in SAMPLE.items() if not k.startswith(("METADATA", "AzureWebJobs"))}
    with pytest.raises(ConfigurationError):
        Settings.from_env(env)


def test_azure_mode_needs_the_platform_app() -> None:
    env = {**SAMPLE, "CUSTOMER_STORAGE_MODE": "azure", "PLATFORM_APP_CLIENT_ID": ""}
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert info.value.setting == "PLATFORM_APP_CLIENT_ID"
    app = "1B4E28BA-2FA1-11D2-883F-0016D3CCA427"
    env = {
        **env,
        "PLATFORM_APP_TENANT_ID": "contoso.onmicrosoft.com",
        "PLATFORM_APP_CLIENT_SECRET": "s",
    }
    assert Settings.from_env({**env, "PLATFORM_APP_CLIENT_ID": app}).platform_app_id == app.lower()


def test_identity_based_metadata_store_from_the_account_name() -> None:
    env = {k: v for k, v in SAMPLE.items() if not k.startswith(("METADATA", "AzureWebJobs"))}
    client = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    settings = Settings.from_env(
        {
            **env,
            "METADATA_STORAGE__accountName": "platformmeta",
            "METADATA_STORAGE__credential": "managedidentity",
            "METADATA_STORAGE__clientId": client,
        }
    )
    assert settings.metadata_connection == ""
    assert settings.metadata_table_uri == "https://platformmeta.table.core.windows.net"
    assert settings.metadata_blob_uri == "https://platformmeta.blob.core.windows.net"
    assert (settings.metadata_credential, settings.metadata_client_id) == (
        "managedidentity",
        client,
    )


def test_identity_based_metadata_store_from_service_uris() -> None:
    env = {k: v for k, v in SAMPLE.items() if not k.startswith(("METADATA", "AzureWebJobs"))}
    table = "https://meta.table.core.windows.net/"
    settings = Settings.from_env({**env, "METADATA_STORAGE__tableServiceUri": table})
    assert settings.metadata_table_uri == table.rstrip("/")
    assert settings.metadata_blob_uri == "https://meta.blob.core.windows.net"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METADATA_STORAGE__accountName", "Not_An_Account"),
        ("METADATA_STORAGE__tableServiceUri", "ftp://meta/x?y"),
        ("METADATA_STORAGE__credential", "connectionstring"),
        ("METADATA_STORAGE__clientId", "not-a-guid"),
    ],
)
def test_bad_identity_based_metadata_settings_name_the_setting(name: str, value: str) -> None:
    env = {k: v for k, v in SAMPLE.items() if not k.startswith(("METADATA", "AzureWebJobs"))}
    base = {"METADATA_STORAGE__accountName": "platformmeta"}
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({**env, **base, name: value})
    assert info.value.setting == name
