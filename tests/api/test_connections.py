"""Wizard step 1 and the Connection Manager through the HTTP routes."""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.data.tables import TableClient, TableServiceClient

from devhost.azurite import EmulatorAccount
from shared.asset_keys import partition_key, partitions_of, row_key
from tests.api.client import ApiClient
from tests.api.conftest import APP_ID, APP_NAME, ORIGIN

NewConnection = Callable[..., dict[str, Any]]


def body(**fields: Any) -> dict[str, Any]:
    return {
        "dataset": "ds1",
        "name": "Holiday photos",
        "storageAccount": "contosomedia",
        "container": "media-2024",
        **fields,
    }


@pytest.fixture
def tables(platform_account: EmulatorAccount) -> TableServiceClient:
    return TableServiceClient.from_connection_string(platform_account.connection_string)


def test_create_returns_the_connection_and_its_setup(client: ApiClient, paid_org: str) -> None:
    response = client.post(
        f"/api/orgs/{paid_org}/connections", json=body(name="  Holiday photos  ", prefix="/2024/")
    )
    assert response.status == 201
    created = response.json
    connection, setup = created["connection"], created["setup"]
    assert response.header("Location") == f"/api/orgs/{paid_org}/connections/{connection['id']}"
    assert connection["name"] == "Holiday photos"
    assert connection["prefix"] == "2024/"
    assert (connection["provider"], connection["account"], connection["container"]) == (
        "azure_blob",
        "contosomedia",
        "media-2024",
    )
    assert (connection["state"], connection["status"]) == ("awaiting_test", "awaiting_test")
    assert connection["assetCounts"] == {"synced": 0, "skipped": 0, "removed": 0, "ignored": 0}
    assert connection["lastTest"] is None and connection["lastSync"] is None

    assert setup["servicePrincipal"]["command"] == f"az ad sp create --id {APP_ID}"
    role = setup["roleAssignment"]
    assert (role["memberIdentifier"], role["memberDisplayName"]) == (APP_ID, APP_NAME)
    assert "StringEquals 'media-2024'" in role["condition"]
    assert role["conditionVersion"] == "2.0"
    args = shlex.split(role["command"])
    assert args[args.index("--assignee-object-id") + 1] == "$assignee"
    assert args[args.index("--scope") + 1] == "$scope"
    assert setup["cors"]["allowedOrigins"] == [ORIGIN]
    assert f"--origins {ORIGIN}" in setup["cors"]["command"]

    again = client.get(f"/api/orgs/{paid_org}/connections/{connection['id']}/setup")
    assert again.status == 200
    assert again.json == setup


def test_every_failing_field_is_reported_at_once(client: ApiClient, paid_org: str) -> None:
    response = client.post(
        f"/api/orgs/{paid_org}/connections",
        json={
            "dataset": "bad dataset!",
            "name": " ",
            "storageAccount": "Contoso-Media",
            "container": "media--2024",
            "prefix": "x" * 1025,
            "region": "westeurope",
        },
    )
    assert response.status == 400
    assert response.json["code"] == "validation_failed"
    assert {(e["field"], e["code"]) for e in response.json["errors"]} == {
        ("dataset", "invalid_format"),
        ("name", "required"),
        ("storageAccount", "invalid_format"),
        ("container", "invalid_format"),
        ("prefix", "too_long"),
        ("region", "unknown_field"),
    }


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("storageAccount", "ab", "invalid_format"),
        ("storageAccount", "a" * 25, "invalid_format"),
        ("storageAccount", "contoso_media", "invalid_format"),
        ("container", "ab", "invalid_format"),
        ("container", "-media", "invalid_format"),
        ("container", "media-", "invalid_format"),
        ("container", "Media", "invalid_format"),
        ("container", "a" * 64, "invalid_format"),
        ("container", None, "required"),
        ("prefix", "bad\nprefix", "invalid_characters"),
        ("prefix", 7, "invalid_type"),
        ("name", "n" * 101, "too_long"),
        ("name", "bell\x07", "invalid_characters"),
        ("dataset", "", "required"),
        ("dataset", "d" * 65, "invalid_format"),
    ],
)
def test_each_field_rule(
    client: ApiClient, paid_org: str, field: str, value: Any, code: str
) -> None:
    response = client.post(f"/api/orgs/{paid_org}/connections", json=body(**{field: value}))
    assert response.status == 400
    assert [(e["field"], e["code"]) for e in response.json["errors"]] == [(field, code)]


def test_a_body_that_is_not_an_object_is_refused(client: ApiClient, paid_org: str) -> None:
    response = client.post(
        f"/api/orgs/{paid_org}/connections",
        body=b"[1, 2]",
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert response.json["errors"][0]["field"] == "body"


def test_names_are_unique_per_dataset_ignoring_case(client: ApiClient, paid_org: str) -> None:
    url = f"/api/orgs/{paid_org}/connections"
    assert client.post(url, json=body(name="Cats")).status == 201
    taken = client.post(url, json=body(name="  cats "))
    assert taken.status == 409
    assert taken.json["code"] == "connection_name_taken"
    assert client.post(url, json=body(name="Cats", dataset="ds2")).status == 201


def test_list_is_scoped_to_the_org_and_filtered_by_dataset(
    client: ApiClient, paid_org: str, org_id: str
) -> None:
    url = f"/api/orgs/{paid_org}/connections"
    for name, dataset in (("a", "ds1"), ("b", "ds1"), ("c", "ds2")):
        assert client.post(url, json=body(name=name, dataset=dataset)).status == 201
    everything = client.get(url).json
    assert everything["count"] == 3
    assert [c["name"] for c in client.get(url + "?dataset=ds1").json["items"]] == ["a", "b"]
    assert client.get(url + "?dataset=bad%20id").status == 400

    other = "other-" + uuid.uuid4().hex[:8]
    client.put(f"/api/orgs/{other}", json={"plan": "paid"})
    assert client.get(f"/api/orgs/{other}/connections").json == {"items": [], "count": 0}
    missing = client.get(f"/api/orgs/{org_id}x/connections")
    assert (missing.status, missing.json["code"]) == (404, "org_not_found")


def test_another_orgs_connection_is_indistinguishable_from_a_missing_one(
    client: ApiClient, paid_org: str, new_connection: NewConnection
) -> None:
    connection = new_connection("media-2024")
    intruder = "intruder-" + uuid.uuid4().hex[:6]
    client.put(f"/api/orgs/{intruder}", json={"plan": "paid"})
    theirs = f"/api/orgs/{intruder}/connections/{connection['id']}"
    missing = f"/api/orgs/{intruder}/connections/{'z' * 16}"
    for path, method, payload in (
        ("", "GET", None),
        ("", "PATCH", {"name": "mine now"}),
        ("", "DELETE", None),
        ("/setup", "GET", None),
        ("/test", "POST", None),
        ("/preview", "POST", None),
    ):
        seen = client.request(method, theirs + path, json=payload)
        absent = client.request(method, missing + path, json=payload)
        assert (seen.status, seen.json["code"]) == (404, "connection_not_found")
        assert (absent.status, absent.json["code"]) == (404, "connection_not_found")
        assert seen.json["title"] == absent.json["title"]
    # The owner still sees it, unchanged.
    mine = client.get(f"/api/orgs/{paid_org}/connections/{connection['id']}")
    assert mine.json["name"] == connection["name"]


def test_malformed_connection_ids_are_rejected(client: ApiClient, paid_org: str) -> None:
    response = client.get(f"/api/orgs/{paid_org}/connections/NOT-AN-ID")
    assert response.status == 400
    assert response.json["errors"][0]["field"] == "connection"


def test_patch_renames_and_rescopes(
    client: ApiClient, paid_org: str, new_connection: NewConnection
) -> None:
    connection = new_connection("media-2024", name="Old name")
    url = f"/api/orgs/{paid_org}/connections/{connection['id']}"
    response = client.patch(url, json={"name": "New name", "prefix": "/cats/"})
    assert response.status == 200
    assert (response.json["name"], response.json["prefix"]) == ("New name", "cats/")
    assert client.get(url).json["name"] == "New name"
    # The old name is free again, the new one is taken.
    assert (
        client.post(f"/api/orgs/{paid_org}/connections", json=body(name="Old name")).status == 201
    )
    clash = client.post(f"/api/orgs/{paid_org}/connections", json=body(name="new NAME"))
    assert clash.json["code"] == "connection_name_taken"
    back = client.patch(url, json={"name": "Old name"})
    assert (back.status, back.json["code"]) == (409, "connection_name_taken")
    cleared = client.patch(url, json={"prefix": None})
    assert cleared.json["prefix"] == ""


def test_patch_validation(client: ApiClient, paid_org: str, new_connection: NewConnection) -> None:
    url = f"/api/orgs/{paid_org}/connections/{new_connection('media-2024')['id']}"
    empty = client.patch(url, json={})
    assert (empty.status, empty.json["errors"][0]["field"]) == (400, "body")
    fixed = client.patch(url, json={"container": "other", "storageAccount": "x", "name": ""})
    assert {(e["field"], e["code"]) for e in fixed.json["errors"]} == {
        ("container", "not_editable"),
        ("storageAccount", "not_editable"),
        ("name", "required"),
    }


def _claim_for_a_sync(tables: TableServiceClient, org: str, connection_id: str) -> str:
    run_id = "20260101T000000Z-abcd"
    tables.get_table_client("Connections").update_entity(
        {"PartitionKey": org, "RowKey": connection_id, "activeRunId": run_id}
    )
    return run_id


def test_edits_and_deletion_wait_for_a_running_sync(
    client: ApiClient, paid_org: str, new_connection: NewConnection, tables: TableServiceClient
) -> None:
    connection = new_connection("media-2024")
    url = f"/api/orgs/{paid_org}/connections/{connection['id']}"
    run_id = _claim_for_a_sync(tables, paid_org, connection["id"])
    view = client.get(url).json
    assert (view["status"], view["activeRunId"]) == ("syncing", run_id)
    for response in (client.patch(url, json={"prefix": "new/"}), client.delete(url)):
        assert response.status == 409
        assert response.json["code"] == "sync_running"
        assert response.json["runId"] == run_id
        assert response.header("Retry-After")
    assert client.get(url).json["prefix"] == ""  # nothing changed


def _seed_rows(tables: TableServiceClient, connection_id: str, count: int) -> list[str]:
    assets = tables.get_table_client("Assets")
    names = [f"folder/img-{i:04d}.jpg" for i in range(count)]
    for name in names:
        assets.upsert_entity(
            {
                "PartitionKey": partition_key(connection_id, name),
                "RowKey": row_key(name),
                "name": name,
                "status": "synced",
            }
        )
    runs = tables.get_table_client("SyncRuns")
    for i in range(3):
        runs.upsert_entity({"PartitionKey": connection_id, "RowKey": f"run-{i}", "status": "x"})
    return names


def _count(table: TableClient, partitions: list[str]) -> int:
    return sum(
        len(list(table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})))
        for pk in partitions
    )


def test_delete_removes_the_connection_its_assets_and_runs(
    client: ApiClient, paid_org: str, new_connection: NewConnection, tables: TableServiceClient
) -> None:
    doomed, kept = new_connection("media-2024"), new_connection("media-2024")
    _seed_rows(tables, doomed["id"], 230)  # > 100 in some partitions: several batches
    _seed_rows(tables, kept["id"], 5)
    assets, runs = tables.get_table_client("Assets"), tables.get_table_client("SyncRuns")
    assert _count(assets, partitions_of(doomed["id"])) == 230

    url = f"/api/orgs/{paid_org}/connections/{doomed['id']}"
    response = client.delete(url)
    assert (response.status, response.body) == (204, b"")
    assert _count(assets, partitions_of(doomed["id"])) == 0
    assert _count(runs, [doomed["id"]]) == 0
    gone = client.get(url)
    assert (gone.status, gone.json["code"]) == (404, "connection_not_found")
    assert client.delete(url).status == 404
    # The other connection keeps its rows, and the deleted one's name is free again.
    assert _count(assets, partitions_of(kept["id"])) == 5
    assert _count(runs, [kept["id"]]) == 3
    assert (
        client.post(f"/api/orgs/{paid_org}/connections", json=body(name=doomed["name"])).status
        == 201
    )


def test_the_manager_shows_counts_and_last_sync_written_by_the_sync_engine(
    client: ApiClient, paid_org: str, new_connection: NewConnection, tables: TableServiceClient
) -> None:
    connection = new_connection("media-2024")
    last_sync = {
        "runId": "20260101T000000Z-abcd",
        "status": "completed",
        "finishedAt": "2026-01-01T00:05:00+00:00",
        "counts": {"synced": 40, "skipped": 2, "ignored": 1, "removed": 0},
    }
    tables.get_table_client("Connections").update_entity(
        {
            "PartitionKey": paid_org,
            "RowKey": connection["id"],
            "assetCounts": json.dumps({"synced": 40, "skipped": 2, "removed": 0, "ignored": 1}),
            "lastSync": json.dumps(last_sync),
        }
    )
    view = client.get(f"/api/orgs/{paid_org}/connections/{connection['id']}").json
    assert view["assetCounts"] == {"synced": 40, "skipped": 2, "removed": 0, "ignored": 1}
    assert view["lastSync"] == last_sync
