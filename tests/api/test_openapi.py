"""The contract: a valid OpenAPI 3.1 document, served as is, covering every route."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from tests.api.client import ApiClient, http_routes
from tests.api.contract import ContractError, document, validate_response


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_the_document_is_served(client: ApiClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type.startswith("application/json")
    assert json.loads(response.body) == document()


def _template(route: str) -> str:
    return "/" + re.sub(r"\{\*?([^}:]+)(:[^}]*)?\}", r"{\1}", route.strip("/"))


def test_every_registered_route_is_in_the_contract(api_env: pytest.MonkeyPatch) -> None:
    paths = document()["paths"]
    routes = http_routes()
    assert len(routes) >= 15
    for methods, route in routes:
        template = _template(route)
        assert template in paths, template
        for method in methods:
            assert method.lower() in paths[template], f"{method} {template}"


def test_the_contract_includes_the_sync_engine_routes() -> None:
    paths = document()["paths"]
    base = "/orgs/{org}/connections/{connection}"
    assert {"post", "get"} <= set(paths[base + "/syncs"])
    assert "get" in paths[base + "/syncs/{run}"]
    assert "post" in paths[base + "/syncs/{run}/cancel"]
    assert "get" in paths[base + "/assets"]
    assert "get" in paths[base + "/assets/{asset}/url"]
    conflict = paths[base + "/syncs"]["post"]["responses"]["409"]
    assert "sync_already_running" in conflict["description"]
    progress = document()["components"]["schemas"]["SyncProgress"]
    assert {"runId", "percent", "counts", "totalIsEstimate"} <= set(progress["required"])


def test_the_validator_catches_a_broken_response() -> None:
    path = "/api/orgs/acme/usage"
    good = {
        "org": "acme",
        "month": "2026-01",
        "plan": "paid",
        "used": 1,
        "limit": 2,
        "remaining": 1,
    }
    validate_response("GET", path, 200, "application/json", json.dumps(good).encode())
    bad = {k: v for k, v in good.items() if k != "remaining"}
    with pytest.raises(ContractError, match="remaining"):
        validate_response("GET", path, 200, "application/json", json.dumps(bad).encode())
    with pytest.raises(ContractError, match="418"):
        validate_response("GET", path, 418, "application/json", b"{}")
    with pytest.raises(ContractError, match=r"does not document .application/json"):
        validate_response("GET", path, 404, "application/json", b"{}")
