"""The tests' one client of the API checks every answer against the contract: an answer the
document does not allow fails the test that received it."""

from __future__ import annotations

import httpx
import pytest

from blobsync_cli.client import BlobSyncClient
from tests.api.client import ApiClient
from tests.api.contract import ContractError, check_response


def stub(status: int, body: bytes, content_type: str = "application/json") -> BlobSyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": content_type}, content=body)

    return BlobSyncClient(
        "http://stub",
        transport=httpx.MockTransport(answer),
        event_hooks={"response": [check_response]},
    )


def test_an_answer_outside_the_contract_fails() -> None:
    with stub(200, b'{"status": 7}') as client, pytest.raises(ContractError, match="/health"):
        client.health()
    with stub(200, b"{}") as client, pytest.raises(ContractError, match="no path"):
        client.request("GET", "/not/a/route")
    with stub(418, b"{}") as client, pytest.raises(ContractError, match="status 418"):
        client.request("GET", "/health")


def test_the_in_process_client_answers_from_the_app(client: ApiClient) -> None:
    # (an anonymous route without a durable client: /api/health needs the host's binding)
    response = client.get("/api/openapi.json")
    assert response.status == 200
    assert response.json["openapi"].startswith("3.1")
    assert response.header("Content-Type") is not None
