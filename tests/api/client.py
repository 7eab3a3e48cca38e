"""The API tests' client: the CLI's :class:`~blobsync_cli.client.BlobSyncClient` (the one HTTP
client of the API) over an in-process transport that hands each request to the dev host's own
router and invocation (:class:`devhost.testing.InProcessApp`, the same code that serves requests
under ``python -m devhost``), with every response checked against the OpenAPI contract.

``ApiClient`` keeps the tests' call shape: ``client.post("/api/orgs/acme/connections",
json={...})`` → :class:`ApiResponse` whatever the status."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx

from blobsync_cli.client import BlobSyncClient
from devhost.azurite import PROJECT_ROOT
from devhost.management import Links
from devhost.testing import InProcessApp
from tests.api.contract import check_response

#: The in-process app's address (nothing listens there: the transport never opens a socket).
BASE_URL = "http://in-process"


@lru_cache(maxsize=1)
def _app() -> InProcessApp:
    """The app, loaded once per test process (``get_functions()`` may be called only once)."""
    return InProcessApp(PROJECT_ROOT)


#: Where the durable client of an in-process call points: nothing listens there, so a route
#: that reaches the durable runtime fails loudly (those are the dev-host tests' business).
UNREACHABLE_DURABLE_HOST = "http://127.0.0.1:9"


@lru_cache(maxsize=1)
def unreachable_durable_binding() -> str:
    return Links("InProcessHub", None).client_binding(
        UNREACHABLE_DURABLE_HOST, UNREACHABLE_DURABLE_HOST + "/"
    )


def http_routes() -> list[tuple[frozenset[str], str]]:
    """(methods, route template) of every HTTP function the app registers."""
    routes = []
    for fn in _app().index.http_functions:
        assert fn.http is not None
        routes.append((fn.http.methods or frozenset({"GET"}), fn.http.route))
    return routes


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport that invokes the app's function for the request in this process.

    The function sees what the dev host's server would pass it: the request target as sent, the
    request's headers and body."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The path as sent (percent-encoded, query included), as the dev host's server gets it.
        path = request.url.raw_path.decode("ascii")
        result = _app().call(
            request.method,
            path,
            headers={k.lower(): v for k, v in request.headers.items() if k.lower() != "host"},
            body=request.read() or None,
            client_binding=unreachable_durable_binding(),
        )
        return httpx.Response(result.status, headers=list(result.headers), content=result.body)


def in_process_client(*, check_contract: bool = True) -> BlobSyncClient:
    """A :class:`BlobSyncClient` of the app in this process (no keys: none are checked here)."""
    hooks = {"response": [check_response]} if check_contract else {}
    return BlobSyncClient(BASE_URL, transport=InProcessTransport(), event_hooks=hooks)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class ApiClient:
    """``client.post("/api/orgs/acme/connections", json={...})`` → ``ApiResponse``: a thin
    adapter over :meth:`BlobSyncClient.request` (``.api`` is the client itself, for the route
    methods)."""

    def __init__(self) -> None:
        self.api = in_process_client()
        self._unchecked: BlobSyncClient | None = None

    def close(self) -> None:
        self.api.close()
        if self._unchecked is not None:
            self._unchecked.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        validate: bool = True,
    ) -> ApiResponse:
        client = self.api
        if not validate:
            if self._unchecked is None:
                self._unchecked = in_process_client(check_contract=False)
            client = self._unchecked
        response = client.request(
            method.upper(), BASE_URL + url, json=json, content=body, headers=headers
        )
        return ApiResponse(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )

    def get(self, url: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> ApiResponse:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> ApiResponse:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> ApiResponse:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", url, **kwargs)
