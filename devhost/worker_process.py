"""``FUNCTIONS_WORKER_PROCESS_COUNT`` > 1: Python worker processes, as the host runs them.

The Functions host starts that many language worker processes (1-10, default 1) and hands each
invocation - HTTP, orchestrator episode or activity alike - to the next initialized worker in
turn (round robin, ``RpcFunctionInvocationDispatcherLoadBalancer``). Each process has its own event
loop and its own ``PYTHON_THREADPOOL_THREAD_COUNT`` threads (:class:`devhost.worker.Worker`), and
its own module state (caches, clients, counters are per process).

:class:`ProcessWorker` is one such process (``multiprocessing`` "spawn", the app imported there,
invocations and results over a pipe); :class:`WorkerGroup` distributes invocations. When an
invocation exceeds ``functionTimeout`` the host restarts the worker process that ran it, and
so does the dev host: the other invocations in flight there fail with
:class:`WorkerProcessExitError` (activities and orchestrator episodes then run again, as the
extension aborts and retries them; an HTTP caller gets a 500).

With the default of one process the dev host runs its worker in-process (:class:`Worker`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import logging
import multiprocessing
import os
import sys
import threading
import traceback
from collections.abc import Coroutine, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost.episode import call_orchestrator
from devhost.invoke import (
    EncodedOutput,
    HttpResult,
    InvocationContext,
    RemoteFunctionError,
    close_sdk_session,
    encode_activity_output,
    prime_serialization_notice,
)
from devhost.loader import FunctionIndex, FunctionKind, IndexedFunction, load_app
from devhost.logs import configure_logging
from devhost.worker import Dispatch, FunctionRunner, FunctionTimeoutError, Worker, log_timeout

logger = logging.getLogger("devhost")

START_TIMEOUT_S = 120.0
_HTTP_REQUEST = "__devhost_http_request__"


class WorkerProcessExitError(Exception):
    """The worker process running the invocation exited (restarted after a timeout, or died)."""


# --------------------------------------------------------------------------- child side
def _request_fields(request: func.HttpRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
        "params": dict(request.params),
        "route_params": dict(request.route_params),
        "body": request.get_body(),
    }


def _portable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` in a form that crosses the pipe (``HttpRequest`` does not pickle)."""
    return {
        key: (_HTTP_REQUEST, _request_fields(value))
        if isinstance(value, func.HttpRequest)
        else value
        for key, value in kwargs.items()
    }


def _restore(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        key: func.HttpRequest(**value[1])
        if isinstance(value, tuple) and len(value) == 2 and value[0] == _HTTP_REQUEST
        else value
        for key, value in kwargs.items()
    }


async def _handle(
    worker: Worker,
    index: FunctionIndex,
    op: str,
    name: str,
    payload: Any,
    invocation_id: str,
) -> Any:
    entry = index.get(name)
    if entry is None:
        raise LookupError(f"function {name!r} is not indexed in the worker")
    if op == "orchestrate":
        return await worker.run(call_orchestrator, {"entry": entry, "context": payload}, False)
    kwargs = _restore(payload)
    if entry.wants_context:
        context = InvocationContext(entry.name, str(index.app_dir), invocation_id)
        kwargs = {**kwargs, "context": context}
    value = await worker.run(entry.user_function, kwargs, entry.is_async)
    if entry.kind is FunctionKind.ACTIVITY:
        return EncodedOutput(encode_activity_output(value))
    if entry.kind is FunctionKind.HTTP:
        return HttpResult.from_return_value(value)
    return value


def worker_main(
    conn: Connection,
    app_dir: str,
    hub_name: str,
    threads: int,
    name: str,
    environ: dict[str, str],
) -> None:
    """Entry point of a worker process: load the app, then serve invocations from ``conn``."""
    os.environ.update(environ)
    configure_logging()
    os.chdir(app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    prime_serialization_notice()
    index = load_app(Path(app_dir), hub_name=hub_name)
    worker = Worker(threads, name=name)
    worker.start()
    send_lock = threading.Lock()

    def reply(call_id: int, future: Any) -> None:
        try:
            message: tuple[Any, ...] = (call_id, "ok", future.result())
        except BaseException as exc:
            details = "".join(traceback.format_exception(exc))
            message = (call_id, "error", (type(exc).__name__, str(exc), details))
        with send_lock:
            try:
                conn.send(message)
            except Exception as exc:  # e.g. a result that does not pickle
                conn.send((call_id, "error", (type(exc).__name__, str(exc), "")))

    with send_lock:
        conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        if request is None:
            break
        call_id, op, function_name, payload, invocation_id = request
        future = worker.submit(_handle(worker, index, op, function_name, payload, invocation_id))
        future.add_done_callback(functools.partial(reply, call_id))
    worker.stop(close_sdk_session())


# --------------------------------------------------------------------------- host side
class ProcessWorker(FunctionRunner):
    """One worker process and the host's end of its pipe."""

    def __init__(
        self,
        app_dir: Path,
        *,
        hub_name: str,
        threads: int,
        name: str,
        environ: Mapping[str, str],
    ) -> None:
        self.app_dir = app_dir
        self.hub_name = hub_name
        self._threads = threads
        self.name = name
        self.environ = dict(environ)
        self.pid: int | None = None
        self._process: Any = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._pending_lock = threading.Lock()
        self._restart_lock: asyncio.Lock | None = None
        self._generation = 0
        self.restarts = 0

    @property
    def threads(self) -> int:
        return self._threads

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=worker_main,
            args=(child, str(self.app_dir), self.hub_name, self._threads, self.name, self.environ),
            name=self.name,
            daemon=True,
        )
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S):
            process.kill()
            raise RuntimeError(f"worker process {self.name} did not start")
        try:
            _, pid = parent.recv()
        except EOFError:
            raise RuntimeError(
                f"worker process {self.name} exited while loading the app (see its log)"
            ) from None
        self._process, self._conn, self.pid = process, parent, int(pid)
        self._generation += 1
        threading.Thread(
            target=self._read,
            args=(parent, self._generation),
            name=f"{self.name}-reader",
            daemon=True,
        ).start()
        logger.info("Worker process %s started (pid %d)", self.name, self.pid)

    def _read(self, conn: Connection, generation: int) -> None:
        while True:
            try:
                call_id, status, value = conn.recv()
            except (EOFError, OSError):
                break
            with self._pending_lock:
                waiter = self._pending.pop(call_id, None)
            if waiter is not None:
                loop, future = waiter
                loop.call_soon_threadsafe(_settle, future, status, value)
        if generation == self._generation:  # died on its own (not a restart or stop)
            self._fail_pending(f"worker process {self.name} exited")

    def _fail_pending(self, reason: str) -> None:
        with self._pending_lock:
            waiters = list(self._pending.values())
            self._pending.clear()
        for loop, future in waiters:
            loop.call_soon_threadsafe(_fail, future, WorkerProcessExitError(reason))

    def _terminate(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self._generation += 1  # the reader of the old process must not fail new calls
        if conn is not None:
            try:
                with self._send_lock:
                    conn.send(None)
            except (OSError, ValueError):
                pass
        if process is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        if conn is not None:
            conn.close()

    def stop(self, cleanup: Coroutine[Any, Any, Any] | None = None) -> None:
        if cleanup is not None:
            cleanup.close()  # the SDK session lives in the worker process, closed there
        self._terminate()
        self._fail_pending(f"worker process {self.name} stopped")

    async def restart(self, generation: int) -> None:
        """Kill and restart the process (once per generation, however many timeouts)."""
        if self._restart_lock is None:
            self._restart_lock = asyncio.Lock()
        async with self._restart_lock:
            if generation != self._generation:
                return
            process = self._process
            self._generation += 1
            if process is not None:
                process.kill()
            self._fail_pending(f"worker process {self.name} was restarted after a timeout")
            await asyncio.to_thread(self._terminate)
            await asyncio.to_thread(self.start)
            self.restarts += 1
            logger.warning("Restart of language worker process(es) completed.")

    # -- invocations ----------------------------------------------------------------------
    async def dispatch(self, call: Dispatch) -> Any:
        payload = _portable(call.payload) if call.op == "invoke" else call.payload
        return await self._call(
            call.op, call.entry, payload, call.invocation.invocation_id, call.function_timeout
        )

    async def _call(
        self,
        op: str,
        entry: IndexedFunction,
        payload: Any,
        invocation_id: str,
        function_timeout: dt.timedelta | None,
    ) -> Any:
        if self._restart_lock is not None:
            async with self._restart_lock:  # wait for a restart in progress
                pass
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        call_id = next(self._ids)
        generation = self._generation
        with self._pending_lock:
            self._pending[call_id] = (loop, future)
        try:
            conn = self._conn
            if conn is None:
                raise WorkerProcessExitError(f"worker process {self.name} is not running")
            with self._send_lock:
                conn.send((call_id, op, entry.name, payload, invocation_id))
        except (OSError, ValueError) as exc:
            with self._pending_lock:
                self._pending.pop(call_id, None)
            raise WorkerProcessExitError(f"worker process {self.name}: {exc}") from exc
        except WorkerProcessExitError:
            with self._pending_lock:
                self._pending.pop(call_id, None)
            raise
        if function_timeout is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), function_timeout.total_seconds())
        except TimeoutError:
            with self._pending_lock:
                self._pending.pop(call_id, None)
            log_timeout(
                entry.name,
                invocation_id,
                function_timeout,
                f"Restarting worker process {self.name} (pid {self.pid}) executing it",
            )
            await self.restart(generation)
            raise FunctionTimeoutError(entry.name, function_timeout) from None


def _settle(future: asyncio.Future[Any], status: str, value: Any) -> None:
    if future.done():
        return
    if status == "ok":
        future.set_result(value)
    else:
        type_name, message, details = value
        future.set_exception(RemoteFunctionError(type_name, message, details))


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class WorkerGroup(FunctionRunner):
    """Several worker processes; each invocation goes to the next one in turn."""

    def __init__(self, workers: list[ProcessWorker]) -> None:
        self.workers = workers
        self._next = itertools.count()

    @property
    def threads(self) -> int:
        return self.workers[0].threads

    def start(self) -> None:
        for worker in self.workers:  # the host starts them one after another
            worker.start()

    def stop(self, cleanup: Coroutine[Any, Any, Any] | None = None) -> None:
        if cleanup is not None:
            cleanup.close()
        for worker in self.workers:
            worker.stop()

    def _pick(self) -> ProcessWorker:
        return self.workers[next(self._next) % len(self.workers)]

    async def dispatch(self, call: Dispatch) -> Any:
        return await self._pick().dispatch(call)
