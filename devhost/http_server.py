"""The public HTTP surface: HTTP triggers, the host admin API and the Durable webhooks.

``/api/...`` (the host.json route prefix) goes to HTTP-triggered functions through the
:class:`devhost.routing.Router`; ``/runtime/webhooks/durabletask/...`` to the management API;
``/admin/...`` to a few host endpoints:

* ``GET /admin/host/ping`` - liveness, anonymous (used by :mod:`devhost.testing`);
* ``GET /admin/host/status`` - state, task hub and engine counters (master key when enforced);
* ``GET /admin/functions`` - the indexed functions (master key when enforced);
* ``GET /admin/devhost/durable-client`` - a ``durableClient`` binding string pointing at this host,
  for tools and tests that build a ``DurableOrchestrationClient`` themselves (master key).

Unknown routes, and known routes with another method, are 404 with an empty body (as the
Functions host answers).

An HTTP function that has not answered after the front end's limit (230 seconds in Azure, whatever
``functionTimeout`` says) gets the front end's answer - a 500 "The request timed out" page - while
the invocation runs on until it returns or ``functionTimeout`` ends it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

from devhost.engine import Engine
from devhost.invoke import (
    HttpResult,
    InvocationContext,
    build_http_request,
    call_function,
    describe_error,
)
from devhost.keys import KeyPolicy, KeyScope
from devhost.loader import FunctionIndex, IndexedFunction
from devhost.logs import log_invocation
from devhost.management import RPC_PATH, WEBHOOK_PATH, Links, ManagementApi, json_response
from devhost.routing import Router
from devhost.worker import FunctionRunner

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
#: Azure's front end (load balancer idle timeout) answers an HTTP request after this long.
HTTP_RESPONSE_LIMIT_SECONDS = 230.0
FRONT_END_TIMEOUT_PAGE = (
    "<html><head><title>500 - The request timed out.</title></head><body>"
    "<h2>500 - The request timed out.</h2>"
    "The web server failed to respond within the specified time.</body></html>"
)


def build_router(index: FunctionIndex, prefix: str) -> Router[IndexedFunction]:
    router: Router[IndexedFunction] = Router(prefix)
    for entry in index.http_functions:
        assert entry.http is not None
        router.add(entry.http.route, entry.http.methods, entry)
    return router


async def invoke_http_function(
    entry: IndexedFunction,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    route_params: Mapping[str, str],
    body: bytes,
    client_binding: str | None,
    executor: Executor | None,
    function_directory: str,
    worker: FunctionRunner | None = None,
    function_timeout: dt.timedelta | None = None,
) -> HttpResult:
    """Invoke one HTTP-triggered function as the worker does; exceptions become a 500."""
    request = build_http_request(
        method=method,
        url=url,
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )
    kwargs: dict[str, Any] = {entry.trigger_name: request}
    if entry.client_binding is not None:
        if client_binding is None:
            raise RuntimeError(
                f"function {entry.name} needs a durable client binding (durable_client_input)"
            )
        kwargs[entry.client_binding] = client_binding
    context = InvocationContext(entry.name, function_directory)
    began = time.perf_counter()
    try:
        value = await call_function(
            entry,
            kwargs,
            worker=worker,
            executor=executor,
            context=context,
            function_timeout=function_timeout,
        )
        result = HttpResult.from_return_value(value)
    except Exception as exc:
        log_invocation(
            entry.name,
            invocation_id=context.invocation_id,
            duration_s=time.perf_counter() - began,
            succeeded=False,
            error=describe_error(exc),
        )
        logger.debug("HTTP function %s raised", entry.name, exc_info=True)
        return HttpResult(500, [], b"")
    log_invocation(
        entry.name,
        invocation_id=context.invocation_id,
        duration_s=time.perf_counter() - began,
        succeeded=True,
    )
    return result


class PublicServer:
    """aiohttp handlers for the public port."""

    def __init__(
        self,
        *,
        index: FunctionIndex,
        router: Router[IndexedFunction],
        engine: Engine,
        management: ManagementApi,
        links: Links,
        keys: KeyPolicy,
        worker: FunctionRunner,
        rpc_base_url: str,
        hub_name: str,
        function_timeout: dt.timedelta | None = None,
        response_limit_s: float = HTTP_RESPONSE_LIMIT_SECONDS,
    ) -> None:
        self.index = index
        self.router = router
        self.engine = engine
        self.management = management
        self.links = links
        self.keys = keys
        self.worker = worker
        self.function_timeout = function_timeout
        self.response_limit_s = response_limit_s
        #: Invocations still running after their caller got the front end's timeout answer.
        self.detached: set[asyncio.Task[HttpResult]] = set()
        self.rpc_base_url = rpc_base_url
        self.hub_name = hub_name
        self.started = time.monotonic()

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def _allowed(self, request: web.Request, scope: KeyScope) -> bool:
        return self.keys.allows(scope, request.query, request.headers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        lowered = path.lower()
        if lowered == WEBHOOK_PATH or lowered.startswith(WEBHOOK_PATH + "/"):
            if not self._allowed(request, KeyScope.DURABLE_WEBHOOK):
                return web.Response(status=401)
            return await self.management.handle(request, path[len(WEBHOOK_PATH) :], public=True)
        if lowered == "/admin" or lowered.startswith("/admin/"):
            return await self._admin(request, lowered)
        match = self.router.match(request.method, path)
        if match is None:
            if path in ("", "/") and request.method == "GET":
                return web.Response(text="The dev host is running.\n")
            return web.Response(status=404)
        entry = match.route.target
        assert entry.http is not None
        if not self._allowed(request, KeyScope.for_auth_level(entry.http.auth_level)):
            return web.Response(status=401)
        origin = f"{request.scheme}://{request.host}"
        invocation = asyncio.ensure_future(
            invoke_http_function(
                entry,
                method=request.method,
                url=str(request.url),
                headers=request.headers,
                params=request.query,
                route_params=match.values,
                body=await request.read(),
                client_binding=self.links.client_binding(origin, self.rpc_base_url),
                executor=None,
                function_directory=str(self.index.app_dir),
                worker=self.worker,
                function_timeout=self.function_timeout,
            )
        )
        try:
            result = await asyncio.wait_for(asyncio.shield(invocation), self.response_limit_s)
        except TimeoutError:
            self.detached.add(invocation)
            invocation.add_done_callback(self.detached.discard)
            logger.warning(
                "%s %s: no response after %gs; the front end answers 500 (request timed out) "
                "while the function keeps running",
                request.method,
                path,
                self.response_limit_s,
            )
            return web.Response(status=500, text=FRONT_END_TIMEOUT_PAGE, content_type="text/html")
        response = web.Response(status=result.status, body=result.body)
        for key, value in result.headers:
            response.headers.add(key, value)
        return response

    async def _admin(self, request: web.Request, lowered: str) -> web.StreamResponse:
        if lowered == "/admin/host/ping" and request.method in ("GET", "POST", "HEAD"):
            return web.Response(status=200)
        if not self._allowed(request, KeyScope.ADMIN):
            return web.Response(status=401)
        if request.method != "GET":
            return web.Response(status=404)
        if lowered == "/admin/host/status":
            stats = self.engine.stats
            return json_response(
                200,
                {
                    "state": "Running",
                    "version": "devhost",
                    "processUptime": round((time.monotonic() - self.started) * 1000),
                    "taskHub": self.hub_name,
                    "episodes": stats.episodes,
                    "activities": stats.activities,
                    "maxHistoryEvents": stats.max_history_events,
                },
            )
        if lowered == "/admin/functions":
            return json_response(
                200,
                [
                    {
                        "name": f.name,
                        "kind": f.kind.value,
                        "durableName": f.durable_name,
                        "route": f.http.route if f.http else None,
                        "methods": sorted(f.http.methods) if f.http and f.http.methods else None,
                        "authLevel": f.http.auth_level.value if f.http else None,
                    }
                    for f in self.index.functions
                ],
            )
        if lowered == "/admin/devhost/durable-client":
            origin = f"{request.scheme}://{request.host}"
            return web.Response(
                text=self.links.client_binding(origin, self.rpc_base_url),
                content_type="application/json",
            )
        return web.Response(status=404)


class RpcServer:
    """The internal listener behind ``rpcBaseUrl`` (loopback only, no keys)."""

    def __init__(self, management: ManagementApi) -> None:
        self.management = management

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == RPC_PATH or path.startswith(RPC_PATH + "/"):
            return await self.management.handle(request, path[len(RPC_PATH) :], public=False)
        return web.Response(status=404)
