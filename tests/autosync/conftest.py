"""Fixtures of the auto-sync end-to-end tests: the app under the dev host in front of Azurite
(through a counting proxy that can slow one container's listing down, to keep a run active),
a loopback webhook receiver, and helpers to post Event Grid / CloudEvents deliveries."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiohttp import web
from azure.storage.blob import ContainerClient

from devhost.azurite import PROJECT_ROOT, Azurite, EmulatorAccount
from devhost.testing import DevHostProcess
from tests.sync.harness import Api, CountingProxy


class SlowProxy(CountingProxy):
    """The counting proxy; listings of ``slow_container`` wait ``slow_seconds`` first."""

    slow_container = ""
    slow_seconds = 0.0
    slow_reads = False  # slow down blob GETs of the container instead of its listing

    def _is_slow(self, request: web.Request, service: str) -> bool:
        if not self.slow_container or service != "blob" or not self.slow_seconds:
            return False
        if self.slow_reads:
            return request.method == "GET" and f"/{self.slow_container}/" in request.path
        return "comp=list" in request.query_string and request.path.rstrip("/").endswith(
            "/" + self.slow_container
        )

    async def _forward(self, request: web.Request, service: str, target: str) -> web.Response:
        if self._is_slow(request, service):
            await asyncio.sleep(self.slow_seconds)
        if request.method == "HEAD":  # the base proxy drops Content-Length (a blob's size)
            return await self._head(request, target)
        return await super()._forward(request, service, target)

    async def _head(self, request: web.Request, target: str) -> web.Response:
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding")
        }
        assert self._session is not None
        async with self._session.request(
            "HEAD",
            target + request.path_qs,
            headers=headers,
            allow_redirects=False,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
        ) as upstream:
            out = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in ("transfer-encoding", "content-encoding", "connection")
            }
            return web.Response(status=upstream.status, headers=out)


@dataclass
class Service:
    host: DevHostProcess
    api: Api
    proxy: SlowProxy
    account: str
    raw: httpx.Client = field(init=False)  # no contract hook: the events endpoint's 401 etc.

    def __post_init__(self) -> None:
        self.raw = httpx.Client(base_url=self.host.base_url, timeout=120)


@pytest.fixture(scope="module")
def service(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    proxy = SlowProxy(
        blob_target=f"http://127.0.0.1:{azurite.blob_port}",
        table_target=f"http://127.0.0.1:{azurite.table_port}",
    )
    proxy.start()
    platform = platform_account
    metadata = (
        f"DefaultEndpointsProtocol=http;AccountName={platform.name};AccountKey={platform.key};"
        f"BlobEndpoint=http://127.0.0.1:{proxy.blob_port}/{platform.name};"
        f"TableEndpoint=http://127.0.0.1:{proxy.table_port}/{platform.name};"
        f"QueueEndpoint={platform.queue_endpoint};"
    )
    env = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": platform.connection_string,
        "METADATA_STORAGE_CONNECTION": metadata,
        "CUSTOMER_STORAGE_MODE": "emulator",
        "EMULATOR_BLOB_ENDPOINT": f"http://127.0.0.1:{proxy.blob_port}",
        "EMULATOR_ACCOUNTS": f"{customer_account.name}:{customer_account.key}",
        "SYNC_PAGE_SIZE": "100",
        "SYNC_BATCH_SIZE": "40",
        "AUTOSYNC_MIN_INTERVAL_SECONDS": "1",
        "WEBHOOK_ALLOW_LOOPBACK": "true",
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
        "WEBHOOK_MAX_ATTEMPTS": "4",
    }
    host = DevHostProcess(PROJECT_ROOT, env=env, workspace=tmp_path_factory.mktemp("devhost"))
    try:
        host.start()
        svc = Service(host, Api(host.base_url), proxy, customer_account.name)
        try:
            yield svc
        finally:
            svc.api.close()
            svc.raw.close()
            log = host.log_text()
            if "Traceback" in log or "unhandled" in log:
                print("---- dev host log (errors) ----\n" + log[-8000:])
    finally:
        host.stop()
        proxy.stop()


@pytest.fixture
def container(customer_account: EmulatorAccount, unique_name: str) -> Iterator[ContainerClient]:
    client = ContainerClient.from_connection_string(customer_account.connection_string, unique_name)
    client.create_container()
    yield client
    client.delete_container()


# -- events ----------------------------------------------------------------------------------------
_SEQ = itertools.count(0x4420000000000000)


def next_sequencer() -> str:
    """Event Grid's blob sequencers: fixed-width hex, increasing per blob change."""
    return f"{next(_SEQ):032x}"


@dataclass(frozen=True)
class BlobChange:
    kind: str  # created | deleted
    name: str
    etag: str
    sequencer: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


def created(container: ContainerClient, name: str) -> BlobChange:
    etag = str(container.get_blob_client(name).get_blob_properties().etag).strip('"')
    return BlobChange("created", name, etag, next_sequencer())


def deleted(name: str) -> BlobChange:
    return BlobChange("deleted", name, "", next_sequencer())


def _data(change: BlobChange, account: str, container: str) -> dict[str, Any]:
    return {
        "api": "PutBlob" if change.kind == "created" else "DeleteBlob",
        "requestId": str(uuid.uuid4()),
        "eTag": change.etag or None,
        "contentType": "application/octet-stream",
        "contentLength": 0,
        "blobType": "BlockBlob",
        "url": f"https://{account}.blob.core.windows.net/{container}/{change.name}",
        "sequencer": change.sequencer,
        "storageDiagnostics": {"batchId": str(uuid.uuid4())},
    }


def _type(change: BlobChange) -> str:
    return (
        "Microsoft.Storage.BlobCreated"
        if change.kind == "created"
        else ("Microsoft.Storage.BlobDeleted")
    )


def _topic(account: str) -> str:
    return (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
        f"Microsoft.Storage/storageAccounts/{account}"
    )


def eventgrid_event(change: BlobChange, account: str, container: str) -> dict[str, Any]:
    return {
        "id": change.id,
        "topic": _topic(account),
        "subject": f"/blobServices/default/containers/{container}/blobs/{change.name}",
        "eventType": _type(change),
        "eventTime": "2026-11-29T05:00:00.0000000Z",
        "data": _data(change, account, container),
        "dataVersion": "",
        "metadataVersion": "1",
    }


def cloud_event(change: BlobChange, account: str, container: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "type": _type(change),
        "source": _topic(account),
        "id": change.id,
        "time": "2026-11-29T05:00:00.0000000Z",
        "subject": f"/blobServices/default/containers/{container}/blobs/{change.name}",
        "data": _data(change, account, container),
    }


def post_events(
    client: httpx.Client, org: str, conn: str, key: str | None, body: Any, content_type: str
) -> httpx.Response:
    headers = {"content-type": content_type}
    if key is not None:
        headers["X-Blobsync-Event-Key"] = key
    return client.post(f"/api/events/{org}/{conn}", content=json.dumps(body), headers=headers)


# -- webhook receiver ------------------------------------------------------------------------------
@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A loopback HTTP receiver answering from a list of statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()
