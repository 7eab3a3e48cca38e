"""Compose the dev host: settings, app index, task-hub store, engine and the two listeners."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from devhost.config import HostConfig, LocalSettings, StorageConnection
from devhost.engine import Engine
from devhost.http_server import (
    HTTP_RESPONSE_LIMIT_SECONDS,
    PublicServer,
    RpcServer,
    build_router,
)
from devhost.invoke import close_sdk_session, prime_serialization_notice
from devhost.keys import KEYS_FILE_NAME, HostKeys, KeyPolicy
from devhost.loader import FunctionIndex, FunctionKind, load_app
from devhost.management import RPC_PATH, Links, ManagementApi
from devhost.store import TaskHubStore
from devhost.table_store import TableStore
from devhost.worker import FunctionRunner, Worker, format_timespan, process_count, thread_count
from devhost.worker_process import ProcessWorker, WorkerGroup

logger = logging.getLogger("devhost")

DEFAULT_PORT = 7071
WORKSPACE_DIR = ".devhost"


@dataclass(frozen=True)
class HostOptions:
    app_dir: Path
    port: int | None = None  # None: local.settings.json Host.LocalHttpPort, else 7071
    bind: str = "127.0.0.1"
    require_keys: bool = False
    workspace: Path | None = None  # None: <app_dir>/.devhost
    #: The front end's limit on an HTTP response (Azure: 230 s); lowered by tests.
    http_response_limit_s: float = HTTP_RESPONSE_LIMIT_SECONDS

    @property
    def workspace_dir(self) -> Path:
        return self.workspace or self.app_dir / WORKSPACE_DIR


class DevHost:
    """One running dev host. ``start()`` returns once both listeners accept requests."""

    def __init__(
        self,
        options: HostOptions,
        *,
        store: TaskHubStore | None = None,
        environ: MutableMapping[str, str] | None = None,
    ) -> None:
        self.options = options
        self.environ = os.environ if environ is None else environ
        self._store = store
        self._runners: list[web.AppRunner] = []
        self._engine: Engine | None = None
        self._worker: FunctionRunner | None = None
        self._processes = 1
        self._public: PublicServer | None = None
        self.index: FunctionIndex | None = None
        self.config: HostConfig | None = None
        self.keys: HostKeys | None = None
        self.port = 0
        self.rpc_port = 0

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the dev host is not started")
        return self._engine

    @property
    def base_url(self) -> str:
        return f"http://{self._public_host}:{self.port}"

    @property
    def _public_host(self) -> str:
        return "127.0.0.1" if self.options.bind in ("0.0.0.0", "") else self.options.bind  # noqa: S104

    async def start(self) -> None:
        app_dir = self.options.app_dir.resolve()
        settings = LocalSettings.load(app_dir)
        for name in settings.apply(self.environ):
            logger.info(
                "Skipping '%s' from local.settings.json: already set in the environment", name
            )
        self.environ.setdefault("AzureWebJobsScriptRoot", str(app_dir))
        self.environ.setdefault("FUNCTIONS_WORKER_RUNTIME", "python")
        config = self.config = HostConfig.load(app_dir, self.environ)
        prime_serialization_notice()
        index = self.index = load_app(app_dir, hub_name=config.hub_name)

        store = self._store
        if store is None:
            connection = StorageConnection.from_environment(self.environ)
            store = self._store = TableStore(connection, config.hub_name)
            logger.info(
                "Task hub %s in storage account %s (%s)",
                config.hub_name,
                connection.account_name,
                connection.table_endpoint,
            )
        await store.open()
        if self.options.require_keys:
            self.keys = HostKeys.load_or_create(self.options.workspace_dir, self.environ)
            logger.info(
                "Function keys are enforced; keys are in %s",
                self.options.workspace_dir / KEYS_FILE_NAME,
            )

        threads = thread_count(self.environ)
        self._processes = process_count(self.environ)
        worker: FunctionRunner
        if self._processes == 1:
            worker = Worker(threads)
        else:
            worker = WorkerGroup(
                [
                    ProcessWorker(
                        app_dir,
                        hub_name=config.hub_name,
                        threads=threads,
                        name=f"worker{n}",
                        environ=self.environ,
                    )
                    for n in range(1, self._processes + 1)
                ]
            )
        self._worker = worker
        await asyncio.to_thread(worker.start)
        engine = self._engine = Engine(index, store, config, worker=worker)
        await engine.start()

        links = Links(config.hub_name, self.keys.durable_system if self.keys else None)
        management = ManagementApi(engine, links, public_origin="")
        rpc_runner = await self._listen(RpcServer(management).application(), "127.0.0.1", 0)
        self.rpc_port = _port_of(rpc_runner)
        public = PublicServer(
            index=index,
            router=build_router(index, config.route_prefix),
            engine=engine,
            management=management,
            links=links,
            keys=KeyPolicy(self.keys),
            worker=worker,
            rpc_base_url=f"http://127.0.0.1:{self.rpc_port}{RPC_PATH}/",
            hub_name=config.hub_name,
            function_timeout=config.function_timeout,
            response_limit_s=self.options.http_response_limit_s,
        )
        self._public = public
        port = self.options.port or settings.http_port or DEFAULT_PORT
        public_runner = await self._listen(public.application(), self.options.bind, port)
        self.port = _port_of(public_runner)
        management.public_origin = self.base_url
        rpc_base = f"http://127.0.0.1:{self.rpc_port}{RPC_PATH}/"
        engine.client_binding = lambda: links.client_binding(self.base_url, rpc_base)
        self._banner(index, config)

    async def _listen(self, app: web.Application, host: str, port: int) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        self._runners.append(runner)
        return runner

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._public is not None:
            for task in list(self._public.detached):
                task.cancel()
        if self._engine is not None:
            await self._engine.stop()
        if self._store is not None:
            await self._store.close()
        if self._worker is not None:  # the SDK's session lives on the worker's loop
            await asyncio.to_thread(self._worker.stop, close_sdk_session())
            self._worker = None
        await close_sdk_session()

    def _banner(self, index: FunctionIndex, config: HostConfig) -> None:
        lines = ["", "Functions:", ""]
        prefix = f"/{config.route_prefix}" if config.route_prefix else ""
        for entry in index.functions:
            if entry.kind is FunctionKind.HTTP and entry.http is not None:
                methods = ",".join(sorted(entry.http.methods)) if entry.http.methods else "ALL"
                lines.append(
                    f"        {entry.name}: [{methods}] {self.base_url}{prefix}/{entry.http.route}"
                )
            else:
                trigger = entry.function.get_trigger()
                note = ""
                if entry.kind in (FunctionKind.TIMER, FunctionKind.ENTITY):
                    note = " (not run by the dev host)"
                lines.append(f"        {entry.name}: {trigger.type if trigger else '?'}{note}")
            lines.append("")
        for line in lines:
            logger.info(line)
        logger.info(
            "Dev host listening on %s (task hub %s, %d activity / %d orchestrator slots)",
            self.base_url,
            config.hub_name,
            config.max_concurrent_activities,
            config.max_concurrent_orchestrations,
        )
        threads = self._worker.threads if self._worker else 0
        timeout = config.function_timeout
        logger.info(
            "Python worker: %s, each with 1 event loop and %d sync threads; functionTimeout %s; "
            "HTTP responses cut at %gs",
            "1 process (in the dev host's)"
            if self._processes == 1
            else f"{self._processes} processes (FUNCTIONS_WORKER_PROCESS_COUNT)",
            threads,
            format_timespan(timeout) if timeout else "unlimited",
            self.options.http_response_limit_s,
        )


def _port_of(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])
