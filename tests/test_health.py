"""GET /api/health reports the version and whether the metadata store answers."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func
import pytest

from api.health import get_health
from devhost.azurite import EmulatorAccount, free_port
from shared import wiring
from shared.version import APP_VERSION

SAMPLE = json.loads(
    (Path(__file__).resolve().parent.parent / "local.settings.sample.json").read_text()
)


def call() -> tuple[int, dict[str, object]]:
    req = func.HttpRequest(method="GET", url="http://localhost/api/health", headers={}, body=b"")
    resp = get_health(req)
    return resp.status_code, json.loads(resp.get_body())


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key, value in SAMPLE["Values"].items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield monkeypatch
    wiring.reset()


def test_health_with_a_live_metadata_store(
    env: pytest.MonkeyPatch, platform_account: EmulatorAccount
) -> None:
    env.setenv("METADATA_STORAGE_CONNECTION", platform_account.connection_string)
    status, body = call()
    assert status == 200
    assert body == {"status": "ok", "version": APP_VERSION, "metadataStore": "reachable"}


def test_health_when_the_metadata_store_is_down(env: pytest.MonkeyPatch) -> None:
    dead = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    env.setenv("METADATA_STORAGE_CONNECTION", dead)
    status, body = call()
    assert status == 503
    assert body["metadataStore"] == "unreachable"
    assert body["version"] == APP_VERSION
