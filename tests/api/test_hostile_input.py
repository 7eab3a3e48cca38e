"""Hostile input gets a documented 4xx with a field-level problem and a stable code — never a
500, never exception text — through the app as the host runs it (against Azurite)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from azure.data.tables import TableServiceClient

from devhost.azurite import EmulatorAccount
from shared.asset_keys import partition_key, row_key
from tests.api.client import ApiClient, ApiResponse

JSON = {"Content-Type": "application/json"}
#: Text from Python exceptions that must never reach a caller.
LEAKS = ("invalid literal", "Traceback", "Error:", "RecursionError", "UnicodeEncodeError")


def connection_body(**fields: Any) -> dict[str, Any]:
    return {
        "dataset": "ds1",
        "name": "Main bucket",
        "storageAccount": "contosomedia",
        "container": "cameras",
        **fields,
    }


def field_problem(response: ApiResponse, status: int = 400) -> list[tuple[str, str]]:
    """The (field, code) pairs of a problem answer, after the checks every problem passes."""
    assert response.status == status, response.body[:300]
    assert response.content_type.startswith("application/problem+json")
    raw = response.body.decode("utf-8")
    assert not any(leak in raw for leak in LEAKS), raw
    problem = response.json
    if status != 400:
        return [("", problem["code"])]
    assert problem["code"] == "validation_failed"
    return [(e["field"], e["code"]) for e in problem["errors"]]


def post_raw(client: ApiClient, url: str, raw: bytes, **headers: str) -> ApiResponse:
    return client.post(url, body=raw, headers={**JSON, **headers})


# -- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1000, 10_000])
def test_deeply_nested_json_is_a_body_problem(client: ApiClient, paid_org: str, depth: int) -> None:
    raw = json.dumps(connection_body())[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
    response = post_raw(client, f"/api/orgs/{paid_org}/connections", raw.encode())
    assert field_problem(response) == [("body", "too_deep")]


def test_nesting_inside_strings_is_just_text(client: ApiClient, paid_org: str) -> None:
    response = client.post(
        f"/api/orgs/{paid_org}/connections", json=connection_body(name="[[[[{{{{" * 12)
    )
    assert response.status == 201


@pytest.mark.parametrize("field", ["name", "prefix", "dataset", "container"])
def test_a_lone_surrogate_in_any_string_field_is_that_fields_problem(
    client: ApiClient, paid_org: str, field: str
) -> None:
    raw = json.dumps(connection_body(**{field: "cats-X"})).replace("cats-X", "cats\\ud800")
    response = post_raw(client, f"/api/orgs/{paid_org}/connections", raw.encode())
    assert field_problem(response) == [(field, "invalid_unicode")]


def test_a_lone_surrogate_in_a_rename_is_refused(
    client: ApiClient, new_connection: Callable[..., dict[str, Any]], paid_org: str
) -> None:
    connection = new_connection("cameras")
    url = f"/api/orgs/{paid_org}/connections/{connection['id']}"
    response = client.patch(url, body=b'{"name": "\\udfffcats"}', headers=JSON)
    assert field_problem(response) == [("name", "invalid_unicode")]
    assert client.get(url).json["name"] == connection["name"]  # unchanged


def test_a_lone_surrogate_in_an_unknown_key_is_a_body_problem(
    client: ApiClient, paid_org: str
) -> None:
    raw = b'{"plan": "paid", "\\ud83d": 1}'
    response = client.put(f"/api/orgs/{paid_org}", body=raw, headers=JSON)
    assert field_problem(response) == [("body", "invalid_unicode")]


def test_duplicate_keys_are_refused_naming_the_key(client: ApiClient, paid_org: str) -> None:
    raw = b'{"dataset": "ds1", "name": "a", "name": "b", "storageAccount": "contosomedia",'
    raw += b' "container": "cameras"}'
    response = post_raw(client, f"/api/orgs/{paid_org}/connections", raw)
    assert field_problem(response) == [("name", "duplicate_key")]
    listing = client.get(f"/api/orgs/{paid_org}/connections").json
    assert listing["count"] == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"plan": "paid", "monthlyQuota": NaN}',
        b'{"plan": "paid", "monthlyQuota": Infinity}',
        b'{"plan": "paid", "monthlyQuota": ' + b"9" * 5000 + b"}",
        b"\xff\xfe{}",
        b'{"plan": "paid"',
    ],
    ids=["nan", "infinity", "huge-integer", "not-utf8", "truncated"],
)
def test_bodies_that_are_not_json_are_a_body_problem(
    client: ApiClient, org_id: str, raw: bytes
) -> None:
    response = client.put(f"/api/orgs/{org_id}", body=raw, headers=JSON)
    assert field_problem(response) in ([("body", "invalid_json")], [("body", "invalid_encoding")])
    assert client.get(f"/api/orgs/{org_id}/usage").json["code"] == "org_not_found"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
        "application/json; charset=latin-1",
        None,
    ],
)
def test_a_body_that_is_not_json_by_its_media_type_is_415(
    client: ApiClient, paid_org: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(
        f"/api/orgs/{paid_org}/connections",
        body=json.dumps(connection_body()).encode(),
        headers=headers,
    )
    assert field_problem(response, 415) == [("", "unsupported_media_type")]
    assert response.json["accept"] == ["application/json"]
    assert client.get(f"/api/orgs/{paid_org}/connections").json["count"] == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON; charset=UTF-8",
        'application/json;charset="utf-8"',
        "application/merge-patch+json",
    ],
)
def test_json_media_types_are_accepted(client: ApiClient, paid_org: str, content_type: str) -> None:
    response = client.post(
        f"/api/orgs/{paid_org}/connections",
        body=json.dumps(connection_body()).encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status == 201, response.json


def test_an_oversized_body_is_413(client: ApiClient, paid_org: str) -> None:
    raw = json.dumps(connection_body(prefix="p" * 70_000)).encode()
    response = post_raw(client, f"/api/orgs/{paid_org}/connections", raw)
    assert field_problem(response, 413) == [("", "payload_too_large")]


# -- query and route parameters ------------------------------------------------------------------


@pytest.fixture
def paged_connection(
    client: ApiClient,
    paid_org: str,
    new_connection: Callable[..., dict[str, Any]],
    platform_account: EmulatorAccount,
) -> str:
    """A connection with 5 asset rows; the URL of its asset list."""
    connection = new_connection("cameras")
    assets = TableServiceClient.from_connection_string(
        platform_account.connection_string
    ).get_table_client("Assets")
    for i in range(5):
        name = f"img-{i}.jpg"
        assets.upsert_entity(
            {
                "PartitionKey": partition_key(str(connection["id"]), name),
                "RowKey": row_key(name),
                "name": name,
                "status": "synced",
            }
        )
    return f"/api/orgs/{paid_org}/connections/{connection['id']}/assets"


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_paging_with_the_token_the_list_gave_walks_every_row(
    client: ApiClient, paged_connection: str
) -> None:
    seen: list[str] = []
    token = None
    for _ in range(10):
        url = paged_connection + "?pageSize=2" + (f"&continuationToken={token}" if token else "")
        page = client.get(url).json
        seen += [item["name"] for item in page["items"]]
        token = page["continuationToken"]
        if not token:
            break
    assert sorted(seen) == [f"img-{i}.jpg" for i in range(5)]


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "%%%%",
        "A",
        _b64({}),
        _b64({"a": "b"}),
        _b64({"PartitionKey": "x"}),
        _b64({"PartitionKey": "", "RowKey": ""}),
        _b64({"PartitionKey": 1, "RowKey": 2}),
        _b64([1, 2]),
        base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("="),
        "A" * 5000,
    ],
)
def test_a_malformed_continuation_token_is_refused_not_restarted(
    client: ApiClient, paged_connection: str, token: str
) -> None:
    first = client.get(paged_connection + "?pageSize=2").json["items"]
    assert first  # page 1 exists, so a silent restart would look like success
    response = client.get(f"{paged_connection}?pageSize=2&continuationToken={quote(token)}")
    assert field_problem(response) == [("continuationToken", "invalid_token")]


@pytest.mark.parametrize("size", ["²", "١٢", "0", "1001", "-1", "1.5", "1e3", " 5", "x", "9" * 50])
def test_a_bad_page_size_is_a_pagesize_problem(
    client: ApiClient, paged_connection: str, size: str
) -> None:
    response = client.get(f"{paged_connection}?pageSize={quote(size)}")
    assert field_problem(response) == [("pageSize", "out_of_range")]


def test_every_bad_query_parameter_is_reported_at_once(
    client: ApiClient, paged_connection: str
) -> None:
    response = client.get(
        f"{paged_connection}?status=lost&reason=nope&pageSize=0&continuationToken=%21"
    )
    assert sorted(field_problem(response)) == [
        ("continuationToken", "invalid_token"),
        ("pageSize", "out_of_range"),
        ("reason", "invalid_value"),
        ("status", "invalid_value"),
    ]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/orgs/UPPER/usage", "org"),
        ("/api/orgs/a%00b/connections", "org"),
        ("/api/orgs/{org}/connections/short", "connection"),
        ("/api/orgs/{org}/connections/{conn}/syncs/-run", "run"),
        ("/api/orgs/{org}/connections/{conn}/syncs/%F0%9F%92%A5", "run"),
        ("/api/orgs/{org}/connections/{conn}/assets/%25%25%25/url", "asset"),
        ("/api/orgs/{org}/connections/{conn}/assets/7f-_/url", "asset"),
    ],
)
def test_bad_route_ids_are_field_problems(
    client: ApiClient, paid_org: str, path: str, field: str
) -> None:
    url = path.format(org=paid_org, conn="a" * 16)
    response = client.get(url)
    assert field_problem(response) == [(field, "invalid_format")]


@pytest.mark.parametrize(
    "name",
    ["\x00", "a\x7fb\x1f", "/", "#?%", "é" * 400, "x" * 1024, "'; or 1 eq 1", "\u202eevil"],
    ids=["nul", "controls", "slash", "url-chars", "long-unicode", "longest", "odata", "bidi"],
)
def test_odd_asset_names_are_simply_not_found(
    client: ApiClient, paged_connection: str, name: str
) -> None:
    asset = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    response = client.get(f"{paged_connection}/{asset}/url")
    assert response.status == 404, response.body[:300]
    assert response.json["code"] == "asset_not_found"
