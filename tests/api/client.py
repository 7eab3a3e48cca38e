"""In-process HTTP client for ``function_app``: routes a request to the registered function by
method and route template and calls it like the Functions worker would, then checks the
response against the OpenAPI contract."""

from __future__ import annotations

import asyncio
import inspect
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from tests.api.contract import validate_response

_INDEX: list[tuple[frozenset[str], list[str], Any, str]] | None = None


def _index() -> list[tuple[frozenset[str], list[str], Any, str]]:
    """Build the route index once per process: ``get_functions()`` may be called only once."""
    global _INDEX
    if _INDEX is None:
        from function_app import app

        index = []
        for fn in app.get_functions():
            trigger = fn.get_trigger()
            if trigger is None or trigger.get_binding_name() != "httpTrigger":
                continue
            methods = frozenset(
                str(getattr(m, "value", m)).upper() for m in (trigger.methods or ["GET"])
            )
            segments = ["api", *str(trigger.route).strip("/").split("/")]
            index.append((methods, segments, fn, trigger.name))
        _INDEX = index
    return _INDEX


def _match(method: str, path: str) -> tuple[Any, str, dict[str, str]] | None:
    parts = path.strip("/").split("/")
    for methods, segments, fn, trigger_name in _index():
        if method not in methods:
            continue
        params: dict[str, str] = {}
        if segments and segments[-1].startswith("{*"):
            if len(parts) < len(segments):
                continue
            parts_here = [*parts[: len(segments) - 1], "/".join(parts[len(segments) - 1 :])]
        else:
            if len(parts) != len(segments):
                continue
            parts_here = parts
        for want, got in zip(segments, parts_here, strict=True):
            if want.startswith("{") and want.endswith("}"):
                params[want.strip("{}*")] = got
            elif want.lower() != got.lower():
                break
        else:
            return fn, trigger_name, params
    return None


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
    ) -> ApiResponse:
        method = method.upper()
        split = urlsplit(url)
        found = _match(method, split.path)
        if found is None:
            raise AssertionError(f"no function serves {method} {split.path}")
        fn, trigger_name, route_params = found
        all_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if json is not None:
            body = jsonlib.dumps(json).encode()
            all_headers.setdefault("content-type", "application/json")
        req = func.HttpRequest(
            method=method,
            url=f"http://localhost{split.path}" + (f"?{split.query}" if split.query else ""),
            headers=all_headers,
            params=dict(parse_qsl(split.query, keep_blank_values=True)),
            route_params=route_params,
            body=body or b"",
        )
        result = fn.get_user_function()(**{trigger_name: req})
        if inspect.isawaitable(result):
            result = asyncio.run(result)  # type: ignore[arg-type]
        assert isinstance(result, func.HttpResponse)
        response_headers = {k.lower(): v for k, v in result.headers.items()}
        if result.mimetype:
            charset = f"; charset={result.charset}" if result.charset else ""
            response_headers["content-type"] = result.mimetype + charset
        response = ApiResponse(result.status_code, response_headers, result.get_body() or b"")
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
