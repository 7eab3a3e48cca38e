"""End-to-end harness: the real app under the dev host, Azurite behind a counting proxy, and the
sync flow driven through the CLI's client of the HTTP API."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import ClientSession, web

from blobsync_cli.client import TERMINAL_STATUSES, BlobSyncClient
from devhost.azurite import PROJECT_ROOT, Azurite, EmulatorAccount, emulator_app_settings, free_port
from devhost.testing import DevHostProcess
from tests.api.contract import check_response

_BATCH_TARGET = re.compile(rb"^(?:PUT|PATCH|MERGE|POST|DELETE) \S*/([A-Za-z][A-Za-z0-9]*)\(", re.M)


@dataclass
class RecordedRequest:
    service: str  # "blob" or "table"
    method: str
    path: str
    query: str
    tables: frozenset[str] = frozenset()  # tables written by a batch


@dataclass
class CountingProxy:
    """A loopback reverse proxy in front of Azurite's blob and table endpoints that records
    every request the app sends. It changes nothing: paths, headers and bodies pass through
    (shared-key signatures do not cover the host), so the app talks to the real Azurite."""

    blob_target: str
    table_target: str
    blob_port: int = field(default_factory=free_port)
    table_port: int = field(default_factory=free_port)
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Switched-off targets: (service, path prefix) -> "reset" (the connection is dropped, as
    #: when the host is unreachable) or "busy" (503 ServerBusy, as when storage throttles).
    _down: dict[tuple[str, str], str] = field(default_factory=dict)

    def outage(self, service: str, prefix: str = "/", mode: str = "reset") -> None:
        """Switch off requests to ``service`` ("blob"/"table") whose path starts with
        ``prefix`` (e.g. ``/contosomedia/``) until :meth:`restore`."""
        with self._lock:
            self._down[(service, prefix)] = mode

    #: Added latency per request: (service, path prefix) -> seconds.
    _slow: dict[tuple[str, str], float] = field(default_factory=dict)

    def restore(self) -> None:
        with self._lock:
            self._down.clear()
            self._slow.clear()

    def latency(self, service: str, prefix: str, seconds: float) -> None:
        """Delay every request to ``service`` under ``prefix`` (a slower, WAN-like link)."""
        with self._lock:
            self._slow[(service, prefix)] = seconds

    def _latency(self, service: str, path: str) -> float:
        with self._lock:
            return max(
                (
                    d
                    for (sv, prefix), d in self._slow.items()
                    if sv == service and path.startswith(prefix)
                ),
                default=0.0,
            )

    def _outage_mode(self, service: str, path: str) -> str | None:
        with self._lock:
            for (down_service, prefix), mode in self._down.items():
                if down_service == service and path.startswith(prefix):
                    return mode
        return None

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    async def _forward(self, request: web.Request, service: str, target: str) -> web.Response:
        body = await request.read()
        delay = self._latency(service, request.path)
        if delay:
            await asyncio.sleep(delay)
        mode = self._outage_mode(service, request.path)
        if mode == "busy":
            return web.Response(
                status=503,
                headers={"x-ms-error-code": "ServerBusy"},
                text="The server is busy.",
            )
        if mode is not None:  # drop the connection without an answer
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        tables = frozenset(m.decode() for m in _BATCH_TARGET.findall(body)) if body else frozenset()
        with self._lock:
            self.requests.append(
                RecordedRequest(service, request.method, request.path, request.query_string, tables)
            )
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding")
        }
        assert self._session is not None
        async with self._session.request(
            request.method,
            target + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
        ) as upstream:
            payload = await upstream.read()
            out_headers = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower()
                not in ("content-length", "transfer-encoding", "content-encoding", "connection")
            }
            return web.Response(status=upstream.status, body=payload, headers=out_headers)

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def main() -> None:
                self._session = ClientSession(auto_decompress=False)
                self._runners = []
                for service, port, target in (
                    ("blob", self.blob_port, self.blob_target),
                    ("table", self.table_port, self.table_target),
                ):
                    app = web.Application(client_max_size=256 * 1024 * 1024)

                    async def handler(
                        req: web.Request, s: str = service, t: str = target
                    ) -> web.Response:
                        return await self._forward(req, s, t)

                    app.router.add_route("*", "/{tail:.*}", handler)
                    runner = web.AppRunner(app, access_log=None)
                    await runner.setup()
                    await web.TCPSite(runner, "127.0.0.1", port).start()
                    self._runners.append(runner)
                ready.set()

            loop.run_until_complete(main())
            loop.run_forever()

        self._session: ClientSession | None = None
        self._thread = threading.Thread(target=run, daemon=True, name="counting-proxy")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("counting proxy did not start")

    def stop(self) -> None:
        async def shutdown() -> None:
            for runner in self._runners:
                await runner.cleanup()
            if self._session is not None:
                await self._session.close()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- what the app did ------------------------------------------------------------------------
    def blob_reads(self, account: str) -> int:
        """GETs of blob content in ``account`` (listing calls excluded)."""
        return sum(
            1
            for r in self.snapshot()
            if r.service == "blob"
            and r.method == "GET"
            and r.path.startswith(f"/{account}/")
            and "comp=list" not in r.query
            and "restype=" not in r.query
        )

    def table_writes(self, table: str) -> int:
        """Requests that write to ``table``: single-entity writes and batches touching it."""
        count = 0
        for r in self.snapshot():
            if r.service != "table" or r.method == "GET":
                continue
            last = r.path.rsplit("/", 1)[-1]
            if last == "$batch":
                count += table in r.tables
            elif last == table or last.startswith(table + "("):
                count += 1
        return count


class _Raw:
    """``api.http.get("/api/...")`` → the ``httpx.Response`` whatever its status, through the
    one client (its contract check included)."""

    def __init__(self, client: BlobSyncClient) -> None:
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, self._client.base_url + url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


class Api:
    """The sync flow over the CLI's :class:`BlobSyncClient` (the one HTTP client of the API),
    talking real HTTP to the dev host, every response checked against the OpenAPI contract."""

    def __init__(self, base_url: str, *, check_contract: bool = True) -> None:
        hooks = {"response": [check_response]} if check_contract else {}
        self.client = BlobSyncClient(base_url, timeout=60, event_hooks=hooks)
        self.http = _Raw(self.client)

    def close(self) -> None:
        self.client.close()

    def put_org(self, org: str, *, plan: str = "paid", quota: int = 1_000_000) -> None:
        self.client.put_org(org, plan=plan, monthly_quota=quota)

    def connect(
        self, org: str, *, account: str, container: str, prefix: str = "", name: str = "e2e"
    ) -> str:
        created = self.client.create_connection(
            org,
            dataset="ds1",
            name=name,
            storage_account=account,
            container=container,
            prefix=prefix,
        )
        return str(created["connection"]["id"])

    def start_sync(self, org: str, connection: str) -> httpx.Response:
        """The raw answer (tests look at refusals: 409 while running, 403 on a free plan)."""
        return self.http.post(f"/api/orgs/{org}/connections/{connection}/syncs")

    def progress(self, org: str, connection: str, run: str) -> dict[str, Any]:
        return self.client.get_sync(org, connection, run)

    def wait(self, org: str, connection: str, run: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = self.progress(org, connection, run)
            if view["status"] in TERMINAL_STATUSES:
                return view
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run} still {view['status']}: {view}")
            time.sleep(0.3)

    def sync(self, org: str, connection: str) -> dict[str, Any]:
        run = str(self.client.start_sync(org, connection)["runId"])
        return self.wait(org, connection, run)

    def assets(
        self, org: str, connection: str, *, status: str | None = None, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """Every asset of the connection (all pages), optionally one status or reason."""
        return list(
            self.client.iter_assets(org, connection, status=status, reason=reason, page_size=1000)
        )


@contextmanager
def running_service(
    azurite: Azurite,
    platform: EmulatorAccount,
    customers: list[EmulatorAccount],
    workspace: Path,
    *,
    hub: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[DevHostProcess, Api, CountingProxy]]:
    proxy = CountingProxy(
        blob_target=f"http://127.0.0.1:{azurite.blob_port}",
        table_target=f"http://127.0.0.1:{azurite.table_port}",
    )
    proxy.start()
    metadata = (
        f"DefaultEndpointsProtocol=http;AccountName={platform.name};AccountKey={platform.key};"
        f"BlobEndpoint=http://127.0.0.1:{proxy.blob_port}/{platform.name};"
        f"TableEndpoint=http://127.0.0.1:{proxy.table_port}/{platform.name};"
        f"QueueEndpoint={platform.queue_endpoint};"
    )
    env = emulator_app_settings(
        platform,
        customers,
        blob_endpoint=f"http://127.0.0.1:{proxy.blob_port}",
        metadata_connection=metadata,
        **{
            "SYNC_PAGE_SIZE": "100",
            "SYNC_BATCH_SIZE": "40",
            "SYNC_PAGES_PER_EXECUTION": "2",
            **(extra_env or {}),
        },
    )
    host = DevHostProcess(PROJECT_ROOT, env=env, workspace=workspace)
    try:
        host.start()
        api = Api(host.base_url)
        try:
            yield host, api, proxy
        finally:
            api.close()
    finally:
        host.stop()
        proxy.stop()
