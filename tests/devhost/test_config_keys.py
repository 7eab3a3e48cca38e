"""host.json, local.settings.json precedence, connection strings and function keys."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest

from devhost.azurite import DEV_ACCOUNT, DEV_KEY
from devhost.config import ConfigError, HostConfig, LocalSettings, StorageConnection
from devhost.keys import MASTER_KEY_ENV, HostKeys, KeyPolicy, KeyScope


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_host_json_settings_are_read(tmp_path: Path) -> None:
    write_json(
        tmp_path / "host.json",
        {
            "version": "2.0",
            "extensions": {
                "http": {"routePrefix": ""},
                "durableTask": {
                    "hubName": "%HUB_SETTING%",
                    "maxConcurrentActivityFunctions": 3,
                    "maxConcurrentOrchestratorFunctions": 2,
                },
            },
        },
    )
    config = HostConfig.load(tmp_path, {"HUB_SETTING": "MyHub1"})
    assert (config.route_prefix, config.hub_name) == ("", "MyHub1")
    assert (config.max_concurrent_activities, config.max_concurrent_orchestrations) == (3, 2)


@pytest.mark.parametrize(
    ("host_json", "message"),
    [
        ({"extensions": {}}, "version"),
        ({"version": "2.0", "extensions": {"durableTask": {"hubName": "no-dashes"}}}, "hub"),
        (
            {
                "version": "2.0",
                "extensions": {"durableTask": {"maxConcurrentActivityFunctions": 0}},
            },
            "positive",
        ),
    ],
)
def test_host_json_mistakes_are_refused(tmp_path: Path, host_json: object, message: str) -> None:
    write_json(tmp_path / "host.json", host_json)
    with pytest.raises(ConfigError, match=message):
        HostConfig.load(tmp_path, {})


def test_hub_name_setting_resolves_and_falls_back_when_unset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_json(
        tmp_path / "host.json",
        {"version": "2.0", "extensions": {"durableTask": {"hubName": "%TASK_HUB_NAME%"}}},
    )
    assert HostConfig.load(tmp_path, {"TASK_HUB_NAME": "StagingHub2"}).hub_name == "StagingHub2"
    with caplog.at_level("WARNING", logger="devhost"):
        assert HostConfig.load(tmp_path, {}).hub_name == "BlobSyncHub"
        assert HostConfig.load(tmp_path, {"TASK_HUB_NAME": " "}).hub_name == "BlobSyncHub"
    assert "TASK_HUB_NAME" in caplog.text and "in Azure" in caplog.text
    with pytest.raises(ConfigError, match="hub"):
        HostConfig.load(tmp_path, {"TASK_HUB_NAME": "not-valid"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, dt.timedelta(minutes=30)),
        ("00:10:00", dt.timedelta(minutes=10)),
        ("00:00:01.5", dt.timedelta(seconds=1.5)),
        ("1.02:00:00", dt.timedelta(days=1, hours=2)),
        ("-1", None),
    ],
)
def test_function_timeout_is_a_timespan(
    tmp_path: Path, text: str | None, expected: dt.timedelta | None
) -> None:
    data: dict[str, object] = {"version": "2.0"}
    if text is not None:
        data["functionTimeout"] = text
    write_json(tmp_path / "host.json", data)
    assert HostConfig.load(tmp_path, {}).function_timeout == expected


@pytest.mark.parametrize("text", ["10 minutes", "00:61:00", "00:00:00", ""])
def test_function_timeout_mistakes_are_refused(tmp_path: Path, text: str) -> None:
    write_json(tmp_path / "host.json", {"version": "2.0", "functionTimeout": text})
    with pytest.raises(ConfigError, match="functionTimeout"):
        HostConfig.load(tmp_path, {})


def test_environment_wins_over_local_settings(tmp_path: Path) -> None:
    write_json(
        tmp_path / "local.settings.json",
        {"IsEncrypted": False, "Values": {"A": "from-file", "B": "from-file", "FLAG": True}},
    )
    environ = {"A": "from-env"}
    skipped = LocalSettings.load(tmp_path).apply(environ)
    assert environ == {"A": "from-env", "B": "from-file", "FLAG": "true"}
    assert skipped == ["A"]


def test_development_storage_means_azurite_default_ports() -> None:
    connection = StorageConnection.parse("UseDevelopmentStorage=true")
    assert connection.account_name == DEV_ACCOUNT and connection.account_key == DEV_KEY
    assert connection.table_endpoint == f"http://127.0.0.1:10002/{DEV_ACCOUNT}"
    assert connection.blob_endpoint == f"http://127.0.0.1:10000/{DEV_ACCOUNT}"


def test_explicit_endpoints_and_defaults() -> None:
    parsed = StorageConnection.parse(
        "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/acct/;"
    )
    assert parsed.table_endpoint == "http://127.0.0.1:9/acct"
    assert parsed.blob_endpoint == "http://acct.blob.core.windows.net"
    with pytest.raises(ConfigError, match="AccountKey"):
        StorageConnection.parse("AccountName=acct")
    with pytest.raises(ConfigError, match="AzureWebJobsStorage"):
        StorageConnection.from_environment({})


def test_keys_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = HostKeys.load_or_create(tmp_path, {})
    again = HostKeys.load_or_create(tmp_path, {})
    assert first == again == HostKeys.read(tmp_path)
    assert len({first.master, first.function_default, first.durable_system}) == 3
    mode = stat.S_IMODE((tmp_path / "keys.json").stat().st_mode)
    assert mode == 0o600


def test_environment_keys_override_the_file(tmp_path: Path) -> None:
    HostKeys.load_or_create(tmp_path, {})
    keys = HostKeys.load_or_create(tmp_path, {MASTER_KEY_ENV: "operator-master"})
    assert keys.master == "operator-master"
    assert HostKeys.read(tmp_path).master == "operator-master"


def test_key_scopes_follow_azure_auth_levels() -> None:
    keys = HostKeys(master="m", function_default="f", durable_system="s")
    policy = KeyPolicy(keys)
    assert policy.allows(KeyScope.NONE, {}, {})
    assert not policy.allows(KeyScope.FUNCTION, {}, {})
    assert policy.allows(KeyScope.FUNCTION, {"code": "f"}, {})
    assert policy.allows(KeyScope.FUNCTION, {}, {"x-functions-key": "m"})
    assert not policy.allows(KeyScope.ADMIN, {"code": "f"}, {})
    assert policy.allows(KeyScope.ADMIN, {"code": "m"}, {})
    assert policy.allows(KeyScope.DURABLE_WEBHOOK, {"code": "s"}, {})
    assert not policy.allows(KeyScope.DURABLE_WEBHOOK, {"code": "f"}, {})
    assert KeyPolicy(None).allows(KeyScope.ADMIN, {}, {})  # open, like func start
