"""The run-end webhook end to end: one signed summary per run, retried after a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from azure.data.tables import TableServiceClient
from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import EmulatorAccount
from shared.store.tables import AUTOSYNC_TABLE, WEBHOOK_DELIVERIES_TABLE
from tests.autosync.conftest import Service, WebhookReceiver


def wait_for(receiver: WebhookReceiver, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(receiver.received)} of {count} webhook requests arrived")
        time.sleep(0.2)


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does with X-Blobsync-Signature."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) < 300
    return fresh and hmac.compare_digest(expected, parts["v1"])


def test_one_signed_summary_per_run_retried_after_a_500(
    service: Service,
    container: ContainerClient,
    unique_name: str,
    receiver: WebhookReceiver,
    platform_account: EmulatorAccount,
) -> None:
    api = service.api
    for name, data in mediagen.mixed_set(10, seed=4, image_size=(120, 90), video_seconds=0.3):
        container.upload_blob(name, data)
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account=service.account, container=container.container_name)
    base = f"/api/orgs/{org}/connections/{conn}"

    for bad in ("http://example.com/hook", "https://user:pw@example.com/hook", "ftp://x/y", 7):
        r = api.http.request("PUT", base + "/webhook", json={"url": bad})
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["field"] == "url"
    r = api.http.request("PUT", base + "/webhook", json={"url": receiver.url})
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    shown = api.http.get(base + "/autosync")
    assert shown.json()["webhook"]["url"] == receiver.url
    assert secret not in shown.text

    receiver.statuses = [500]  # the first attempt fails: Event Grid-style retry with backoff
    view = api.sync(org, conn)
    wait_for(receiver, 2)
    first, second = receiver.received[:2]
    for got, attempt in ((first, "1"), (second, "2")):
        assert got.headers["X-Blobsync-Delivery"] == view["runId"]
        assert got.headers["X-Blobsync-Attempt"] == attempt
        assert verify(secret, got.headers["X-Blobsync-Signature"], got.body)
        assert not verify("whsec_wrong", got.headers["X-Blobsync-Signature"], got.body)
    payload = json.loads(second.body)
    assert payload["type"] == "blobsync.run.ended"
    assert (payload["runId"], payload["status"], payload["trigger"]) == (
        view["runId"],
        "completed",
        "manual",
    )
    assert payload["counts"]["synced"] == view["counts"]["synced"]
    assert payload["counts"]["skippedByReason"] == view["counts"]["skippedByReason"]
    deliveries = api.http.get(base + "/webhook/deliveries").json()["items"]
    assert deliveries[0] == {
        **deliveries[0],
        "runId": view["runId"],
        "attempts": 2,
        "lastStatus": 200,
        "outcome": "delivered",
    }

    again = api.sync(org, conn)
    wait_for(receiver, 3)
    time.sleep(3)  # no duplicate follows a delivered summary
    assert len(receiver.received) == 3
    assert json.loads(receiver.received[2].body)["runId"] == again["runId"]
    assert secret not in service.host.log_text()

    assert api.http.request("DELETE", base + "/webhook").status_code == 204
    api.sync(org, conn)
    time.sleep(2)
    assert len(receiver.received) == 3

    # Deleting the connection forgets its auto-sync settings and its delivery records.
    assert api.http.request("PUT", base + "/webhook", json={"url": receiver.url}).is_success
    assert api.http.request("DELETE", base).status_code == 204
    tables = TableServiceClient.from_connection_string(platform_account.connection_string)
    autosync = tables.get_table_client(AUTOSYNC_TABLE)
    assert list(autosync.query_entities("RowKey eq @c", parameters={"c": conn})) == []
    deliveries = tables.get_table_client(WEBHOOK_DELIVERIES_TABLE)
    assert list(deliveries.query_entities("PartitionKey eq @c", parameters={"c": conn})) == []


def test_a_cancelled_run_sends_its_summary_too(
    service: Service, container: ContainerClient, unique_name: str, receiver: WebhookReceiver
) -> None:
    api = service.api
    for name, data in mediagen.mixed_set(4, seed=6, image_size=(120, 90), video_seconds=0.3):
        container.upload_blob(name, data)
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account=service.account, container=container.container_name)
    base = f"/api/orgs/{org}/connections/{conn}"
    secret = api.http.request("PUT", base + "/webhook", json={"url": receiver.url}).json()["secret"]
    service.proxy.slow_container, service.proxy.slow_seconds = container.container_name, 6.0
    try:
        run = api.start_sync(org, conn).json()["runId"]
        time.sleep(1)
        r = api.http.post(f"{base}/syncs/{run}/cancel")
        assert r.status_code == 202, r.text
    finally:
        service.proxy.slow_container, service.proxy.slow_seconds = "", 0.0
    wait_for(receiver, 1)
    got = receiver.received[0]
    assert verify(secret, got.headers["X-Blobsync-Signature"], got.body)
    payload = json.loads(got.body)
    assert (payload["runId"], payload["status"]) == (run, "cancelled")
    time.sleep(2)
    assert len(receiver.received) == 1
