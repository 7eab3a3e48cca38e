"""A metadata-store outage is a 503 with ``Retry-After`` and a stable code on every route, never a
500: the app is pointed at a loopback port that refuses connections (the SDK's own retries run
first, then the boundary maps what it gives up with), and at a loopback front that answers every
request with a storage error (throttling, server errors)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import TableClient

from api.http import http_boundary
from devhost.azurite import EmulatorAccount
from shared import wiring
from tests.api.client import ApiClient, ApiResponse, http_routes

#: Azurite's well-known development key: the account name and key of no real account.
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "orgs/{org}/connections"): {
        "dataset": "ds1",
        "name": "Main bucket",
        "storageAccount": "contosomedia",
        "container": "cameras",
    },
    ("PATCH", "orgs/{org}/connections/{connection}"): {"name": "Renamed"},
    ("PUT", "orgs/{org}"): {"plan": "paid"},
}
IDS = {"org": "acme-org", "connection": "a" * 16, "run": "run-1", "asset": "aW1nLmpwZw"}
#: Routes that never read the metadata store.
#: Routes that never read the store: the contract and the console's static files.
STORELESS = {("GET", "openapi.json"), ("GET", "console/{*path}")}


def refused_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def store_routes() -> list[tuple[str, str]]:
    routes = sorted(
        (method, route)
        for methods, route in http_routes()
        for method in sorted(methods)
        if (method, route) not in STORELESS
    )
    assert len(routes) >= 16
    return routes


def call(client: ApiClient, method: str, route: str) -> ApiResponse:
    path = "/api/" + re.sub(r"\{(\w+)\}", lambda m: IDS[m.group(1)], route)
    return client.request(method, path, json=BODIES.get((method, route)))


def assert_store_outage(response: ApiResponse, code: str, where: object) -> None:
    assert response.status == 503, (where, response.status, response.body[:200])
    retry_after = response.header("Retry-After")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1, where
    problem = response.json
    if response.content_type.startswith("application/problem+json"):
        assert problem["code"] == code, where
        assert "127.0.0.1" not in response.body.decode() and "Error" not in problem["detail"]
    else:  # the health probe reports the outage in its own body
        assert problem["metadataStore"] == "unreachable", where


@pytest.fixture
def store_down(
    api_env: pytest.MonkeyPatch, platform_account: EmulatorAccount
) -> Iterator[pytest.MonkeyPatch]:
    port = refused_port()
    api_env.setenv(
        "METADATA_STORAGE_CONNECTION",
        f"DefaultEndpointsProtocol=http;AccountName={platform_account.name};AccountKey={DEV_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{platform_account.name};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{platform_account.name};",
    )
    wiring.reset()
    yield api_env
    wiring.reset()


def test_every_route_answers_503_with_retry_after_when_the_store_refuses_connections(
    store_down: pytest.MonkeyPatch,
) -> None:
    client = ApiClient()
    routes = store_routes()
    # In parallel: each request first waits out the SDK's own connection retries (seconds).
    with ThreadPoolExecutor(max_workers=len(routes)) as pool:
        answers = list(pool.map(lambda r: call(client, *r), routes))
    for route, response in zip(routes, answers, strict=True):
        assert_store_outage(response, "metadata_store_unavailable", route)


# -- a loopback front that answers like a failing or throttling table service -------------------


class _Front(ThreadingHTTPServer):
    status: int
    headers_out: dict[str, str]
    requests_seen: int


class _Handler(BaseHTTPRequestHandler):
    server: _Front

    def _answer(self) -> None:
        self.server.requests_seen += 1
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(
            {"odata.error": {"code": "ServerBusy", "message": {"value": "busy"}}}
        ).encode()
        self.send_response(self.server.status)
        for name, value in {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            **self.server.headers_out,
        }.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def front() -> Iterator[_Front]:
    server = _Front(("127.0.0.1", 0), _Handler)
    server.status, server.headers_out, server.requests_seen = 503, {}, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _read_through(front: _Front) -> func.HttpResponse:
    """A handler reading one row through the front, behind the HTTP boundary."""
    host, port = front.server_address[:2]
    table = TableClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};"
        f"TableEndpoint=http://{host!s}:{port}/devstoreaccount1;",
        "Organizations",
        retry_total=0,  # the SDK's retries are not what is under test here
    )

    @http_boundary
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        table.get_entity("acme", "org")
        return func.HttpResponse(status_code=200)

    request = func.HttpRequest(
        method="GET", url="http://localhost/api/orgs/acme/usage", headers={}, body=b""
    )
    return handler(request)


@pytest.mark.parametrize(
    ("status", "headers", "code", "retry_after"),
    [
        (503, {"x-ms-error-code": "ServerBusy"}, "metadata_store_throttled", "5"),
        (429, {"Retry-After": "17"}, "metadata_store_throttled", "17"),
        (500, {"x-ms-error-code": "InternalError"}, "metadata_store_unavailable", "10"),
        (502, {}, "metadata_store_unavailable", "10"),
        (504, {"Retry-After": "3"}, "metadata_store_unavailable", "3"),
        (503, {"Retry-After": "\u00b2"}, "metadata_store_throttled", "5"),
        (429, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, "metadata_store_throttled", "5"),
        (429, {"Retry-After": "86400"}, "metadata_store_throttled", "300"),
    ],
)
def test_store_answers_that_mean_try_later_become_503(
    front: _Front, status: int, headers: dict[str, str], code: str, retry_after: str
) -> None:
    front.status, front.headers_out = status, headers
    response = _read_through(front)
    assert front.requests_seen == 1
    assert response.status_code == 503
    assert response.headers["Retry-After"] == retry_after
    body = json.loads(response.get_body())
    assert body["code"] == code and body["status"] == 503
    assert "ServerBusy" not in body["detail"] and "127.0.0.1" not in response.get_body().decode()


def test_a_store_refusal_that_is_not_an_outage_stays_a_bug(front: _Front) -> None:
    front.status = 400  # a request the store rejects is our fault: a 500 with a correlation id
    response = _read_through(front)
    assert response.status_code == 500
    assert json.loads(response.get_body())["code"] == "internal_error"
