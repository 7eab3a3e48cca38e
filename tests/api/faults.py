"""Faults Azurite cannot produce, injected with azure-core policies and transports (never by
patching the SDK): canned Azure error responses, DNS failures, a scripted Azure endpoint and a
scripted Microsoft Entra ID token endpoint."""

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
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._requests_basic import RestRequestsTransportResponse

Matcher = Callable[[Any], bool]
Reply = Callable[[Any], Any]


def canned(
    request: Any, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> Any:
    """An azure-core response as the requests transport would return it."""
    raw = requests.Response()
    raw.status_code = status
    raw.raw = io.BytesIO(body)
    raw.headers.update({"Content-Length": str(len(body)), **(headers or {})})
    raw.reason = "Canned"
    raw.url = request.url
    return RestRequestsTransportResponse(request=request, internal_response=raw)


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
class FaultPolicy(HTTPPolicy):  # type: ignore[type-arg]
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

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http = request.http_request
        with self._lock:
            self.seen.append((http.method, http.url, "Authorization" in http.headers))
        for matcher, reply in self.rules:
            if matcher(http):
                return PipelineResponse(http, reply(http), request.context)
        return self.next.send(request)


class ScriptedTransport(HttpTransport):  # type: ignore[type-arg]
    """A transport answering from rules only (scripted Azure / Entra ID); unmatched → 404."""

    def __init__(self) -> None:
        self.rules: list[tuple[Matcher, Reply]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def on(self, matcher: Matcher, reply: Reply) -> ScriptedTransport:
        self.rules.append((matcher, reply))
        return self

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.seen.append((request.method, request.url, dict(request.headers)))
        for matcher, reply in self.rules:
            if matcher(request):
                return reply(request)
        return azure_error(404, "ResourceNotFound")(request)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> ScriptedTransport:
        return self

    def __exit__(self, *args: object) -> None:
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
