"""Organisations: plan and quota (admin route), monthly usage, free-plan refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import wiring
from tests.api.client import ApiClient


def test_put_creates_then_updates(client: ApiClient, org_id: str) -> None:
    created = client.put(f"/api/orgs/{org_id}", json={"plan": "free"})
    assert created.status == 201
    assert created.header("Location") == f"/api/orgs/{org_id}"
    assert created.json["plan"] == "free"
    assert created.json["monthlyQuota"] == 100_000  # DEFAULT_MONTHLY_QUOTA

    updated = client.put(f"/api/orgs/{org_id}", json={"plan": "paid", "monthlyQuota": 250})
    assert updated.status == 200
    assert (updated.json["plan"], updated.json["monthlyQuota"]) == ("paid", 250)
    assert updated.json["createdAt"] == created.json["createdAt"]

    kept = client.put(f"/api/orgs/{org_id}", json={"plan": "free"})
    assert (kept.json["plan"], kept.json["monthlyQuota"]) == ("free", 250)


def test_put_reports_every_bad_field(client: ApiClient, org_id: str) -> None:
    response = client.put(
        f"/api/orgs/{org_id}", json={"plan": "gold", "monthlyQuota": -1, "colour": "red"}
    )
    assert response.status == 400
    assert response.content_type.startswith("application/problem+json")
    fields = {(e["field"], e["code"]) for e in response.json["errors"]}
    assert fields == {
        ("plan", "invalid_value"),
        ("monthlyQuota", "invalid_value"),
        ("colour", "unknown_field"),
    }
    missing = client.put(f"/api/orgs/{org_id}", json={"monthlyQuota": True})
    assert {(e["field"], e["code"]) for e in missing.json["errors"]} == {
        ("plan", "required"),
        ("monthlyQuota", "invalid_value"),
    }


@pytest.mark.parametrize("bad", ["ab", "Acme", "-acme", "acme_corp", "a" * 64])
def test_org_ids_are_validated(client: ApiClient, bad: str) -> None:
    response = client.put(f"/api/orgs/{bad}", json={"plan": "paid"})
    assert response.status == 400
    assert response.json["errors"][0]["field"] == "org"
    assert client.get(f"/api/orgs/{bad}/usage").status == 400


def test_usage_of_an_unknown_org_is_404(client: ApiClient, org_id: str) -> None:
    response = client.get(f"/api/orgs/{org_id}/usage")
    assert response.status == 404
    assert response.json["code"] == "org_not_found"


def test_usage_reports_the_current_month(client: ApiClient, paid_org: str) -> None:
    month = f"{datetime.now(UTC):%Y-%m}"
    empty = client.get(f"/api/orgs/{paid_org}/usage").json
    assert empty == {
        "org": paid_org,
        "month": month,
        "plan": "paid",
        "used": 0,
        "limit": 1000,
        "remaining": 1000,
    }
    assert wiring.wiring().usage.charge(paid_org, month, key="s1", costs=[300], limit=1000) == 300
    assert wiring.wiring().usage.charge(paid_org, "2001-01", key="s2", costs=[50], limit=1000) == 50
    after = client.get(f"/api/orgs/{paid_org}/usage").json
    assert (after["used"], after["remaining"]) == (300, 700)


def test_a_free_plan_cannot_connect_storage(client: ApiClient, org_id: str) -> None:
    client.put(f"/api/orgs/{org_id}", json={"plan": "free"})
    response = client.post(
        f"/api/orgs/{org_id}/connections",
        json={"dataset": "ds1", "name": "n", "storageAccount": "contosomedia", "container": "abc"},
    )
    assert response.status == 403
    assert response.json["code"] == "plan_required"
    assert client.get(f"/api/orgs/{org_id}/connections").json["count"] == 0
