"""The error boundary: domain errors become problem+json, surprises a bare 500."""

from __future__ import annotations

import asyncio
import json
import logging

import azure.functions as func
import pytest

from api.http import http_boundary, read_json
from shared.errors import ConflictError, FieldError, NotFoundError, ValidationError


def request(
    body: bytes = b"",
    url: str = "http://localhost/api/things/1?code=SECRETKEY",
    content_type: str | None = "application/json",
) -> func.HttpRequest:
    headers = {"Content-Type": content_type} if content_type else {}
    return func.HttpRequest(
        method="POST", url=url, headers=headers, params={}, route_params={}, body=body
    )


def problem(resp: func.HttpResponse) -> dict[str, object]:
    assert resp.mimetype == "application/problem+json"
    body = json.loads(resp.get_body())
    assert isinstance(body, dict)
    return body


def test_domain_error_becomes_problem_json_with_code_and_status() -> None:
    @http_boundary
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        raise NotFoundError("connection c1 does not exist", code="connection_not_found")

    resp = handler(request())
    body = problem(resp)
    assert resp.status_code == 404
    assert body["status"] == 404
    assert body["code"] == "connection_not_found"
    assert body["type"] == "urn:blobsync:problem:connection_not_found"
    assert body["title"] == "Not found"
    assert body["detail"] == "connection c1 does not exist"
    assert body["instance"] == "/api/things/1"  # no query string: it may hold a key


def test_validation_error_lists_every_field() -> None:
    @http_boundary
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        raise ValidationError(
            [
                FieldError("storageAccount", "invalid_format", "3-24 lowercase letters and digits"),
                FieldError("container", "required", "is required"),
            ]
        )

    resp = handler(request())
    body = problem(resp)
    assert resp.status_code == 400
    assert body["code"] == "validation_failed"
    assert body["errors"] == [
        {
            "field": "storageAccount",
            "code": "invalid_format",
            "message": "3-24 lowercase letters and digits",
        },
        {"field": "container", "code": "required", "message": "is required"},
    ]


def test_retry_after_is_a_header() -> None:
    @http_boundary
    async def handler(req: func.HttpRequest) -> func.HttpResponse:
        raise ConflictError("sync r1 is running", code="sync_already_running", retry_after=30)

    resp = asyncio.run(handler(request()))
    assert resp.status_code == 409
    assert resp.headers["Retry-After"] == "30"
    assert problem(resp)["code"] == "sync_already_running"


@pytest.mark.parametrize("is_async", [False, True])
def test_unexpected_exception_is_a_500_without_its_text(
    is_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    leaked = "https://acct.blob.core.windows.net/c/x?sig=TOPSECRETSIGNATURE"

    def boom() -> func.HttpResponse:
        raise RuntimeError(f"failed to GET {leaked}")

    if is_async:

        @http_boundary
        async def handler(req: func.HttpRequest) -> func.HttpResponse:
            return boom()

        resp = asyncio.run(handler(request()))
    else:

        @http_boundary
        def handler(req: func.HttpRequest) -> func.HttpResponse:
            return boom()

        with caplog.at_level(logging.ERROR):
            resp = handler(request())

    raw = resp.get_body().decode()
    body = problem(resp)
    assert resp.status_code == 500
    assert body["code"] == "internal_error"
    assert "TOPSECRET" not in raw and "RuntimeError" not in raw and "blob.core" not in raw
    correlation = body["correlationId"]
    assert isinstance(correlation, str) and len(correlation) == 32
    assert resp.headers["X-Correlation-Id"] == correlation
    if not is_async:
        assert any(correlation in r.getMessage() for r in caplog.records)


def test_read_json_rejects_bad_bodies() -> None:
    assert read_json(request(b'{"a": 1}')) == {"a": 1}
    assert read_json(request(b"")) == {}
    for bad in (b"{nope", b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(ValidationError) as info:
            read_json(request(bad))
        assert info.value.errors[0].field == "body"


def test_links_survive_a_host_no_url_can_hold() -> None:
    from api.params import api_base

    assert api_base(request(url="http://[bad-host/api/x")) == "/api"
    assert api_base(request(url="https://app.example/api/x")) == "https://app.example/api"
