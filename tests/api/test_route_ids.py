"""Every route that takes ``{org}`` answers the same way for the same kind of id: a malformed
id is a 400 naming the parameter, an unknown organisation is ``org_not_found`` (never
``connection_not_found``), whatever else the route does. The routes come from the app itself, so
a new route is covered the day it is registered."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api.client import ApiClient, http_routes

UNKNOWN_ORG = "org-never-created-0"
CONNECTION = "a" * 16
RUN = "run-1"
ASSET = "aW1nLmpwZw"  # base64url of "img.jpg"

#: ``PUT /orgs/{org}`` creates the organisation, so an unknown one is not an error there.
CREATES_THE_ORG = ("PUT", "orgs/{org}")

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


def org_routes() -> list[tuple[str, str]]:
    routes = [
        (method, route)
        for methods, route in http_routes()
        for method in sorted(methods)
        if "{org}" in route
    ]
    assert len(routes) >= 15  # the walk sees the whole API, not an empty list
    return sorted(routes)


def url(route: str, **ids: str) -> str:
    values = {"org": UNKNOWN_ORG, "connection": CONNECTION, "run": RUN, "asset": ASSET, **ids}
    return "/api/" + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route)


def call(client: ApiClient, method: str, route: str, **ids: str) -> Any:
    return client.request(method, url(route, **ids), json=BODIES.get((method, route)))


@pytest.mark.parametrize(("method", "route"), [r for r in org_routes() if r != CREATES_THE_ORG])
def test_an_unknown_org_is_org_not_found_on_every_route(
    client: ApiClient, method: str, route: str
) -> None:
    response = call(client, method, route)
    assert response.status == 404, (method, route, response.json)
    assert response.json["code"] == "org_not_found"


@pytest.mark.parametrize(("method", "route"), org_routes())
def test_a_malformed_org_is_a_400_on_the_org_field_on_every_route(
    client: ApiClient, method: str, route: str
) -> None:
    response = call(client, method, route, org="Not_An_Org")
    assert response.status == 400, (method, route, response.json)
    assert [(e["field"], e["code"]) for e in response.json["errors"]] == [("org", "invalid_format")]


@pytest.mark.parametrize(("method", "route"), [r for r in org_routes() if "{connection}" in r[1]])
def test_a_malformed_connection_is_a_400_on_the_connection_field_on_every_route(
    client: ApiClient, paid_org: str, method: str, route: str
) -> None:
    response = call(client, method, route, org=paid_org, connection="not-an-id")
    assert response.status == 400, (method, route, response.json)
    assert [(e["field"], e["code"]) for e in response.json["errors"]] == [
        ("connection", "invalid_format")
    ]


@pytest.mark.parametrize(("method", "route"), [r for r in org_routes() if "{connection}" in r[1]])
def test_an_unknown_connection_of_a_known_org_is_connection_not_found(
    client: ApiClient, paid_org: str, method: str, route: str
) -> None:
    response = call(client, method, route, org=paid_org)
    assert response.status == 404, (method, route, response.json)
    assert response.json["code"] == "connection_not_found"
