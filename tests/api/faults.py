"""Faults Azurite cannot produce, injected with azure-core policies and transports (never by
patching the SDK): canned Azure error responses, DNS failures, a scripted Azure endpoint and a
scripted Microsoft Entra ID token endpoint.

Customer storage is async only, so ``FaultPolicy`` is an async policy and a
``ScriptedTransport`` answers the storage clients through its ``aio`` face; the platform's
azure-identity credentials are blocking and use the transport itself. A reply returns a
``Canned`` answer, turned into the response type each side expects."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy
from azure.core.pipeline.transport import AsyncHttpTransport, HttpTransport
from azure.core.rest._requests_asyncio import RestAsyncioRequestsTransportResponse
from azure.core.rest._requests_basic import RestRequestsTransportResponse

Matcher = Callable[[Any], bool]
Reply = Callable[[Any], Any]


@dataclass(frozen=True)
class Canned:
    """An answer to ``request``: status, body and headers."""

    request: Any
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def _raw(self) -> requests.Response:
        raw = requests.Response()
        raw.status_code = self.status
        raw.raw = io.BytesIO(self.body)
        raw.headers.update({"Content-Length": str(len(self.body)), **self.headers})
        raw.reason = "Canned"
        raw.url = self.request.url
        return raw

    def response(self) -> Any:
        """As the blocking requests transport would return it."""
        return RestRequestsTransportResponse(request=self.request, internal_response=self._raw())

    async def async_response(self, *, stream: bool = False) -> Any:
        """As an azure-core async transport would return it: the body read unless the caller
        streams it (downloads do)."""
        response = RestAsyncioRequestsTransportResponse(
            request=self.request, internal_response=self._raw()
        )
        if not stream:
            await response.read()
        return response


def canned(
    request: Any, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> Canned:
    return Canned(request, status, body, dict(headers or {}))


def azure_error(status: int, code: str) -> Reply:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>'
        + code
        + "</Code><Message>injected</Message></Error>"
    ).encode()
    return lambda request: canned(
        request, status, body, {"x-ms-error-code": code, "Content-Type": "application/xml"}
    )


def dns_failure(request: Any) -> Any:
    cause = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    raise ServiceRequestError("Failed to resolve host", error=cause) from cause


# -- request predicates -------------------------------------------------------------------------


def _query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def _path(request: Any) -> list[str]:
    return [p for p in urlsplit(request.url).path.split("/") if p]


def list_blobs_in(container: str) -> Matcher:
    def match(request: Any) -> bool:
        q = _query(request)
        return (
            request.method == "GET"
            and q.get("comp") == ["list"]
            and q.get("restype") == ["container"]
            and _path(request)[-1:] == [container]
        )

    return match


def container_properties_of(container: str) -> Matcher:
    def match(request: Any) -> bool:
        q = _query(request)
        return (
            request.method in ("GET", "HEAD")
            and q.get("restype") == ["container"]
            and "comp" not in q
            and _path(request)[-1:] == [container]
        )

    return match


def read_blob_in(container: str) -> Matcher:
    def match(request: Any) -> bool:
        q = _query(request)
        return request.method == "GET" and not q and container in _path(request)[:-1]

    return match


def anything(request: Any) -> bool:
    return True


@dataclass
class FaultPolicy(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """Answers requests matching a rule with the rule's reply; passes the rest on. Records
    every request it sees (method, URL, whether it carried an Authorization header)."""

    rules: list[tuple[Matcher, Reply]] = field(default_factory=list)
    seen: list[tuple[str, str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def on(self, matcher: Matcher, reply: Reply) -> FaultPolicy:
        self.rules.append((matcher, reply))
        return self

    async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http = request.http_request
        with self._lock:
            self.seen.append((http.method, http.url, "Authorization" in http.headers))
        for matcher, reply in self.rules:
            if matcher(http):
                stream = bool(request.context.options.get("stream", False))
                answer = await reply(http).async_response(stream=stream)
                return PipelineResponse(http, answer, request.context)
        return await self.next.send(request)  # type: ignore[no-any-return]


class ScriptedTransport(HttpTransport):  # type: ignore[type-arg]
    """A transport answering from rules only (scripted Azure / Entra ID); unmatched → 404.

    Blocking for azure-identity; ``aio`` is the same script as an async transport, for the
    storage clients. Both record into ``seen``."""

    def __init__(self) -> None:
        self.rules: list[tuple[Matcher, Reply]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.aio = _AsyncScript(self)

    def on(self, matcher: Matcher, reply: Reply) -> ScriptedTransport:
        self.rules.append((matcher, reply))
        return self

    def answer(self, request: Any) -> Canned:
        self.seen.append((request.method, request.url, dict(request.headers)))
        for matcher, reply in self.rules:
            if matcher(request):
                return reply(request)  # type: ignore[no-any-return]
        return azure_error(404, "ResourceNotFound")(request)  # type: ignore[no-any-return]

    def send(self, request: Any, **kwargs: Any) -> Any:
        return self.answer(request).response()

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> ScriptedTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass


class _AsyncScript(AsyncHttpTransport):  # type: ignore[type-arg]
    """The async face of a ``ScriptedTransport``."""

    def __init__(self, script: ScriptedTransport) -> None:
        self._script = script

    async def send(self, request: Any, **kwargs: Any) -> Any:
        stream = bool(kwargs.get("stream", False))
        return await self._script.answer(request).async_response(stream=stream)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> _AsyncScript:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass


# -- scripted Microsoft Entra ID ----------------------------------------------------------------


def entra_id(transport: ScriptedTransport, *, token_error: str | None = None) -> ScriptedTransport:
    """Answer MSAL's discovery and token requests; ``token_error`` is an AADSTS description."""

    def is_login(request: Any) -> bool:
        return urlsplit(request.url).hostname == "login.microsoftonline.com"

    def reply(request: Any) -> Any:
        path = _path(request)
        if request.url.endswith("openid-configuration"):
            tenant = path[0]
            base = f"https://login.microsoftonline.com/{tenant}"
            doc = {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "issuer": f"{base}/v2.0",
            }
            return canned(
                request, 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}
            )
        if "instance" in path:
            doc = {
                "tenant_discovery_endpoint": "unused",
                "metadata": [
                    {
                        "preferred_network": "login.microsoftonline.com",
                        "preferred_cache": "login.windows.net",
                        "aliases": ["login.microsoftonline.com"],
                    }
                ],
            }
            return canned(
                request, 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}
            )
        if path[-1:] == ["token"]:
            if token_error:
                doc = {"error": "unauthorized_client", "error_description": token_error}
                return canned(
                    request, 400, json.dumps(doc).encode(), {"Content-Type": "application/json"}
                )
            doc = {"token_type": "Bearer", "expires_in": 3600, "access_token": "fake-access-token"}
            return canned(
                request, 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}
            )
        return canned(request, 404)

    return transport.on(is_login, reply)
