"""``blobsync`` against the real app under a key-checking dev host, in front of Azurite.

What a user sees: the wizard's output (connection id, setup commands, the check ladder), the
sync's progress and summary, the skip report as a table or CSV, ``--json`` being the API's own
JSON, and the exit codes for refusals and failed checks. The keys never show up in any output.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from azure.storage.blob import ContainerClient
from click.testing import Result

from blobsync_cli.client import BlobSyncClient
from blobsync_cli.render import CSV_COLUMNS
from devhost.azurite import EmulatorAccount
from devtools.demo import PLANTED, build_corpus
from tests.cli.conftest import Invoke, Service


def corpus(n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` mixed files plus the demo's planted failures (one or more per skip reason)."""
    return build_corpus(n, seed, image_size=(160, 120), video_size=(64, 48), video_seconds=0.4)


def upload(container: ContainerClient, files: list[tuple[str, bytes]]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda f: container.upload_blob(f[0], f[1], overwrite=True), files))


def ok(result: Result, service: Service) -> Result:
    """The command succeeded, and neither key appears anywhere in what it printed."""
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    no_keys(result, service)
    return result


def no_keys(result: Result, service: Service) -> None:
    for key in (service.function_key, service.admin_key):
        assert key not in result.output


def api_get(service: Service, path: str, **params: str) -> Any:
    response = httpx.get(
        service.base_url + path, params=params, headers={"x-functions-key": service.function_key}
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- the wizard, end to end ----------------------------------------------------------------------


def test_connect_sync_and_skip_report_as_an_operator_sees_them(
    blobsync: Invoke, service: Service, container: ContainerClient, unique_name: str
) -> None:
    upload(container, corpus(40, seed=3))
    org = f"org-{unique_name}"

    out = ok(blobsync("org", "set", org, "--plan", "paid", "--quota", "50000"), service).stdout
    assert re.search(r"Monthly quota\s+50,000 data rows", out)

    result = blobsync(
        "connect", org, "--dataset", "ds1", "--name", "Field media",
        "--account", service.customer.name, "--container", container.container_name,
    )  # fmt: skip
    out = ok(result, service).stdout
    found = re.search(r"Connection created: ([a-z0-9]{16})", out)
    assert found, out
    conn = found[1]
    # The setup instructions, whole commands on one line each, ready to paste.
    assert "az ad sp create --id 0a1b2c3d-1111-4222-8333-944455556666\n" in out
    role_line = next(line for line in out.splitlines() if "az role assignment create" in line)
    assert "--condition-version 2.0" in role_line
    assert f"StringEquals '{container.container_name}'" in out
    assert f"--account-name {service.customer.name}" in out
    assert f"blobsync test {org} {conn}" in out
    # The same steps for PowerShell users, as the API gives them.
    setup = json.loads(ok(blobsync("setup", org, conn, "--json"), service).stdout)
    out = ok(blobsync("setup", org, conn, "--shell", "powershell"), service).stdout
    role_ps = setup["roleAssignment"]["commands"]["powershell"]
    assert role_ps != setup["roleAssignment"]["commands"]["bash"]
    assert next(line for line in role_ps.splitlines() if line.strip()) in out
    assert "(powershell commands)" in out

    out = ok(blobsync("test", org, conn), service).stdout
    assert re.search(r"list_blobs\s+│\s+PASS\s+│\s+blobs_listed", out), out
    assert "Outcome: " in out and "FAIL" not in out

    out = ok(blobsync("sync", org, conn, "--interval", "0.2"), service).stdout
    assert "Following run" in out
    view = json.loads(ok(blobsync("status", org, conn, "--json"), service).stdout)
    assert view["status"] == "completed"
    counts = view["counts"]
    # The summary shows the API's figures.
    assert re.search(r"Status\s+completed", out)
    assert re.search(rf"Processed\s+{view['total']} of {view['total']} \(100%\)", out)
    assert re.search(rf"Synced\s+{counts['synced']} \(added {counts['added']}", out)
    assert re.search(rf"^Skipped\s+{counts['skipped']}\s*$", out, re.M)
    assert re.search(rf"Ignored\s+{counts['ignored']} ", out)
    for reason, n in counts["skippedByReason"].items():
        assert re.search(rf"│ {reason}\s+│\s+{n} │", out), reason
    assert {p.reason for p in PLANTED} <= set(counts["skippedByReason"])
    # The last progress line reports the end state.
    progress = [line for line in out.splitlines() if line.startswith("completed ")]
    assert progress and f"synced {counts['synced']} · skipped {counts['skipped']}" in progress[-1]
    assert f"blobsync skipped {org} {conn}" in out

    out = ok(blobsync("skipped", org, conn), service).stdout
    assert f"Skip report: {counts['skipped']} file(s)" in out
    for planted in PLANTED:
        line = next((row for row in out.splitlines() if planted.name in row), None)
        assert line is not None and planted.reason in line, planted
    assert "How to fix" in out and "mogrify -auto-orient" in out

    out = ok(blobsync("runs", org, conn), service).stdout
    assert view["runId"] in out and "completed" in out
    out = ok(blobsync("org", "usage", org), service).stdout
    assert re.search(rf"Data rows used\s+{view['dataRowsCharged']:,} of 50,000", out)


# -- one synced connection shared by the narrower tests ------------------------------------------


@pytest.fixture(scope="module")
def synced(
    service: Service, customer_account: EmulatorAccount
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """A connection synced over a corpus with every skip reason: (org, connection, run view)."""
    name = "cli" + uuid.uuid4().hex[:12]
    container = ContainerClient.from_connection_string(customer_account.connection_string, name)
    container.create_container()
    upload(container, corpus(30, seed=9))
    org = f"org-{name}"
    client = BlobSyncClient(
        service.base_url, function_key=service.function_key, admin_key=service.admin_key
    )
    try:
        client.put_org(org, plan="paid", monthly_quota=100_000)
        created = client.create_connection(
            org, dataset="ds1", name="shared", storage_account=customer_account.name, container=name
        )
        conn = created["connection"]["id"]
        run = client.start_sync(org, conn)["runId"]
        view = client.get_sync(org, conn, run)
        while view["status"] not in ("completed", "failed", "cancelled"):
            view = client.get_sync(org, conn, run)
        assert view["status"] == "completed", view
        yield org, conn, view
    finally:
        client.close()
        container.delete_container()


def test_json_output_is_the_apis_json(
    blobsync: Invoke, service: Service, synced: tuple[str, str, dict[str, Any]]
) -> None:
    org, conn, view = synced

    listing = json.loads(ok(blobsync("list", org, "--json"), service).stdout)
    assert listing == api_get(service, f"/api/orgs/{org}/connections")
    assert listing["items"][0]["id"] == conn

    # The global flag works too, and a run's JSON is the API's progress view.
    run = json.loads(ok(blobsync("--json", "status", org, conn, view["runId"]), service).stdout)
    assert run == api_get(service, f"/api/orgs/{org}/connections/{conn}/syncs/{view['runId']}")

    skipped = json.loads(ok(blobsync("skipped", org, conn, "--json"), service).stdout)
    assert skipped["count"] == view["counts"]["skipped"] == len(skipped["items"])
    assert all(item["status"] == "skipped" and item["fix"] for item in skipped["items"])


def test_skip_report_csv_follows_every_page(
    blobsync: Invoke, service: Service, synced: tuple[str, str, dict[str, Any]]
) -> None:
    org, conn, _ = synced
    api_rows = {
        a["name"]: a
        for a in api_get(
            service, f"/api/orgs/{org}/connections/{conn}/assets", status="skipped", pageSize="1000"
        )["items"]
    }
    assert len(api_rows) > 4

    out = ok(blobsync("skipped", org, conn, "--csv", "--page-size", "4"), service).stdout
    reader = csv.reader(io.StringIO(out))
    assert tuple(next(reader)) == CSV_COLUMNS
    rows = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in reader]
    # Every skipped blob once, across pages of 4, with its reason, detail and fix.
    assert sorted(r["name"] for r in rows) == sorted(api_rows)
    for row in rows:
        asset = api_rows[row["name"]]
        assert row["reason"] == asset["reason"]
        assert row["detail"] == asset["detail"]
        assert row["fix"] == asset["fix"] and row["reason_title"] == asset["reasonTitle"]
        assert int(row["size"]) == asset["size"]

    out = ok(blobsync("skipped", org, conn, "--csv", "--reason", "mp4_major_brand"), service).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {r["reason"] for r in rows} == {"mp4_major_brand"}
    assert {"uploads/gopro/GX010042.mp4", "uploads/itunes/trailer.m4v"} <= {r["name"] for r in rows}


# -- exit codes ----------------------------------------------------------------------------------


def test_a_validation_error_exits_1_and_names_the_field(
    blobsync: Invoke, service: Service, synced: tuple[str, str, dict[str, Any]]
) -> None:
    org, _, _ = synced
    args = ["connect", org, "--dataset", "ds1", "--name", "x", "--account", "Not_An_Account"]
    result = blobsync(*args, "--container", "media")

    assert result.exit_code == 1
    no_keys(result, service)
    assert result.stdout == ""
    assert "Error 400: The request is not valid (validation_failed)" in result.stderr
    assert re.search(
        r"- storageAccount: 3-24 lowercase letters and digits \(invalid_format\)", result.stderr
    )

    result = blobsync(*args, "--container", "media", "--json")
    assert result.exit_code == 1
    problem = json.loads(result.stdout)
    assert problem["code"] == "validation_failed" and problem["status"] == 400
    assert problem["errors"][0]["field"] == "storageAccount"


def test_a_missing_or_wrong_key_exits_1_with_the_way_to_pass_it(
    blobsync: Invoke, service: Service, synced: tuple[str, str, dict[str, Any]]
) -> None:
    org, _, _ = synced
    result = blobsync("list", org, BLOBSYNC_FUNCTION_KEY="")
    assert result.exit_code == 1
    assert "Error 401: Unauthorized" in result.stderr and "BLOBSYNC_FUNCTION_KEY" in result.stderr

    # `org set` is an admin route: the function key is not enough.
    result = blobsync("org", "set", org, "--plan", "paid", BLOBSYNC_ADMIN_KEY="")
    assert result.exit_code == 1
    assert "Error 401" in result.stderr and "BLOBSYNC_ADMIN_KEY" in result.stderr
    no_keys(result, service)


def test_a_failed_connection_test_exits_4(
    blobsync: Invoke, service: Service, synced: tuple[str, str, dict[str, Any]], unique_name: str
) -> None:
    org, _, _ = synced
    result = blobsync(
        "connect", org, "--dataset", "ds1", "--name", unique_name,
        "--account", service.customer.name, "--container", unique_name, "--json",
    )  # fmt: skip
    conn = json.loads(ok(result, service).stdout)["connection"]["id"]

    result = blobsync("test", org, conn)

    assert result.exit_code == 4, result.output
    assert "Outcome: FAIL" in result.stdout
    assert re.search(r"list_blobs\s+│\s+FAIL\s+│\s+container_not_found", result.stdout)


def test_status_of_an_unknown_run_exits_1(
    blobsync: Invoke, service: Service, synced: tuple[str, str, dict[str, Any]]
) -> None:
    org, conn, _ = synced
    result = blobsync("status", org, conn, "20990101T000000Z-dead")
    assert result.exit_code == 1
    assert "Error 404" in result.stderr and "(run_not_found)" in result.stderr


def test_url_finds_the_blob_in_the_asset_list_and_prints_its_read_url(
    blobsync: Invoke, service: Service, synced: tuple[str, str, dict[str, Any]]
) -> None:
    org, conn, _ = synced
    name = PLANTED[0].name
    listed = api_get(service, f"/api/orgs/{org}/connections/{conn}/assets", pageSize="1000")
    asset = next(a for a in listed["items"] if a["name"] == name)

    result = ok(blobsync("url", org, conn, name), service)

    link = result.stdout.strip()
    assert link.split("?", 1)[0].endswith("/" + name)
    # The same blob the API's own id names, readable with the printed link alone.
    by_id = api_get(service, f"/api/orgs/{org}/connections/{conn}/assets/{asset['id']}/url")
    assert link.split("?", 1)[0] == by_id["url"].split("?", 1)[0]
    assert httpx.get(link).status_code == 200
    assert "expires" in result.stderr

    missing = blobsync("url", org, conn, "no/such/blob.jpg")
    assert missing.exit_code == 1
    assert "Error 404" in missing.stderr and "(asset_not_found)" in missing.stderr
    assert "no/such/blob.jpg" in missing.stderr
