"""A fault-injecting loopback proxy for the benchmark, in front of the customer's blob endpoint.

Every request is forwarded to ``upstream`` unchanged. While ``enabled``, a seeded random draw per
request decides its fault: a ``503 ServerBusy`` answered without forwarding, a connection reset
(the socket is closed once the request has been read, nothing is answered), or a stall of
``stall_seconds`` before the request is forwarded and answered. The draws come from one seeded
generator, so a run sees the same sequence of faults (which request gets which one depends on the
order requests arrive in).
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

__all__ = ["FaultPlan", "FaultProxy"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "host",
    }
)


@dataclass(frozen=True)
class FaultPlan:
    """Shares of requests that fail each way (the issue's mix by default)."""

    busy: float = 0.05
    reset: float = 0.02
    stall: float = 0.01
    stall_seconds: float = 10.0

    def describe(self) -> str:
        return (
            f"{self.busy:.0%} 503 ServerBusy, {self.reset:.0%} connection resets, "
            f"{self.stall:.0%} {self.stall_seconds:.0f}-s stalls"
        )


@dataclass
class FaultProxy:
    """``start()`` serves on 127.0.0.1 in a thread of its own; ``stop()`` ends it."""

    upstream: str
    plan: FaultPlan = field(default_factory=FaultPlan)
    seed: int = 1
    enabled: bool = False
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._forced: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_faults(self, enabled: bool, *, seed: int | None = None) -> None:
        with self._lock:
            self.enabled = enabled
            if seed is not None:
                self._rng = random.Random(seed)
            self.counts.clear()

    def force(self, *faults: str) -> None:
        """The next requests get these faults ("busy", "reset", "stall", "none"), in order,
        before the random draws go on (whether or not faults are enabled)."""
        with self._lock:
            self._forced.extend(faults)

    def _draw(self, kind: str) -> str:
        with self._lock:
            self.counts["requests"] += 1
            if self._forced:
                fault = self._forced.pop(0)
                self.counts[fault] += 1
                return fault
            if not self.enabled:
                return "none"
            x = self._rng.random()
            p = self.plan
            fault = (
                "busy"
                if x < p.busy
                else "reset"
                if x < p.busy + p.reset
                else "stall"
                if x < p.busy + p.reset + p.stall
                else "none"
            )
            self.counts[fault] += 1
            if fault != "none":
                self.counts[f"{fault} ({kind})"] += 1
            return fault

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(15)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            self._session = session
            app = web.Application(client_max_size=256 * 2**20)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
            site = web.SockSite(runner, sock)
            await site.start()
            self._ready.set()
            try:
                await self._stopped.wait()
            finally:
                await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self._draw("list" if request.query.get("comp") == "list" else request.method)
        if fault == "busy":
            return web.Response(
                status=503,
                headers={"x-ms-error-code": "ServerBusy"},
                content_type="application/xml",
                text=(
                    '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
                    "<Message>The server is busy (injected).</Message></Error>"
                ),
            )
        if fault == "reset":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response()  # written to a closed socket: nothing reaches the client
        if fault == "stall":
            await asyncio.sleep(self.plan.stall_seconds)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body if body else None,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=upstream.status, headers=out, body=payload)
