"""Validate responses against ``api/openapi.json``: find the operation by method and path
template, pick the response schema by status and content type, validate with JSON Schema
Draft 2020-12, resolving ``$ref``s within the document."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "api" / "openapi.json"
_URI = "urn:blobsync:openapi"
_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


class ContractError(AssertionError):
    pass


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return doc


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    return Registry().with_resource(_URI, resource)


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _server_prefix() -> str:
    servers = document().get("servers") or [{"url": ""}]
    return str(servers[0]["url"]).rstrip("/")


def match_template(path: str) -> str | None:
    """The document's path template for a concrete request path (``/api/...``)."""
    prefix = _server_prefix()
    path = path.split("?", 1)[0]
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    segments = path.strip("/").split("/")
    best: tuple[int, str] | None = None
    for template in document()["paths"]:
        parts = template.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        literal = 0
        for want, got in zip(parts, segments, strict=True):
            if want.startswith("{") and want.endswith("}"):
                if not got:
                    break
            elif want != got:
                break
            else:
                literal += 1
        else:
            if best is None or literal > best[0]:
                best = (literal, template)
    return best[1] if best else None


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    template = match_template(path)
    if template is None:
        raise ContractError(f"no path in the contract matches {path}")
    item = document()["paths"][template]
    op = item.get(method.lower())
    if op is None:
        raise ContractError(f"{method} {template} is not in the contract")
    return template, op


def validate_response(
    method: str, path: str, status: int, content_type: str | None, body: bytes
) -> None:
    """Raise ``ContractError`` unless the response matches the contract."""
    template, op = operation(method, path)
    responses = op["responses"]
    key = str(status) if str(status) in responses else "default"
    if key not in responses:
        raise ContractError(f"{method} {template} does not document status {status}")
    spec = responses[key]
    content = spec.get("content")
    if not content:
        if body:
            raise ContractError(f"{method} {template} {status} must have no body")
        return
    media = (content_type or "").split(";", 1)[0].strip()
    if media not in content:
        raise ContractError(f"{method} {template} {status} does not document {media!r}")
    try:
        instance = json.loads(body)
    except ValueError as exc:
        raise ContractError(f"{method} {template} {status}: body is not JSON") from exc
    pointer = _pointer(
        "", "paths", template, method.lower(), "responses", key, "content", media, "schema"
    )
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": _URI + "#" + pointer,
    }
    validator = Draft202012Validator(
        schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:5]
        ]
        raise ContractError(
            f"{method} {template} {status} breaks the contract:\n" + "\n".join(lines)
        )


def check_response(response: httpx.Response) -> None:
    """An httpx response hook: every answer the tests receive must match the contract
    (``BlobSyncClient(..., event_hooks={"response": [check_response]})``)."""
    response.read()
    validate_response(
        response.request.method,
        urlsplit(response.request.url.raw_path.decode("ascii")).path,
        response.status_code,
        response.headers.get("content-type"),
        response.content,
    )
