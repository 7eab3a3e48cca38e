"""In-process HTTP client for the app: the dev host's own router and invocation
(:class:`devhost.testing.InProcessApp`, the same code that serves requests under
``python -m devhost``), plus a check of every response against the OpenAPI contract."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from devhost.azurite import PROJECT_ROOT
from devhost.management import Links
from devhost.testing import InProcessApp
from tests.api.contract import validate_response


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
    """``client.post("/api/orgs/acme/connections", json={...})`` → ``ApiResponse``."""

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        validate: bool = True,
        client_binding: str | None = None,
    ) -> ApiResponse:
        method = method.upper()
        split = urlsplit(url)
        result = _app().call(
            method,
            url,
            headers={k.lower(): v for k, v in (headers or {}).items()},
            body=body,
            json_body=json,
            client_binding=client_binding or unreachable_durable_binding(),
        )
        response_headers = {k.lower(): v for k, v in result.headers}
        response = ApiResponse(result.status, response_headers, result.body)
        if validate:
            validate_response(
                method, split.path, response.status, response.content_type, response.body
            )
        return response

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
