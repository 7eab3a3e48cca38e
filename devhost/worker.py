"""The Python worker's execution model: one event loop and one thread pool per worker process.

The Python language worker (``azure-functions-python-worker``) receives every invocation on its
event loop. ``async def`` functions run **on that loop**; every synchronous function (HTTP
handlers, orchestrator episodes, activities alike) runs on **one shared thread pool** whose size is
the app setting ``PYTHON_THREADPOOL_THREAD_COUNT`` (default: ``ThreadPoolExecutor``'s own,
``min(32, os.cpu_count() + 4)``). So, in Azure and here:

* a blocking synchronous function holds a pool thread; when every thread is busy, the next
  synchronous invocation of any kind waits (HTTP requests, activities and orchestrator replays
  starve together);
* an ``async def`` function that blocks (``time.sleep``, a blocking SDK call) stalls the loop, so
  every other ``async def`` invocation - and the dispatch of new invocations - waits with it.

:class:`Worker` is that worker, in this process: a loop on a thread of its own (the dev host's
listeners and orchestration engine keep their own loop, as the Functions host is a separate process
in Azure) and the pool. :meth:`Worker.call` is what the host does per invocation, including the
host's ``functionTimeout`` (:class:`FunctionTimeoutError`, the host's message). In Azure the host
then restarts the worker process; this in-process worker cannot stop a thread, so a timed-out
synchronous invocation keeps its pool thread until it returns (an ``async def`` one is
cancelled). With ``FUNCTIONS_WORKER_PROCESS_COUNT`` > 1 the workers are real processes and are
restarted (:mod:`devhost.worker_process`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import azure.functions as func

from devhost.episode import call_orchestrator
from devhost.loader import IndexedFunction

logger = logging.getLogger("devhost")

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
PROCESS_COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_PROCESS_COUNT = 10  # the host's limit for FUNCTIONS_WORKER_PROCESS_COUNT

Op = Literal["invoke", "orchestrate"]


@dataclass(frozen=True)
class Dispatch:
    """One invocation as a runner receives it: ``payload`` is the function's kwargs (``invoke``)
    or the orchestration context (``orchestrate``)."""

    op: Op
    entry: IndexedFunction
    payload: dict[str, Any]
    invocation: func.Context
    function_timeout: dt.timedelta | None


def default_thread_count() -> int:
    """``ThreadPoolExecutor``'s default, which the worker keeps when the setting is unset."""
    return min(32, (os.cpu_count() or 1) + 4)


def thread_count(environ: Mapping[str, str]) -> int:
    """``PYTHON_THREADPOOL_THREAD_COUNT`` as the worker reads it (invalid values: the default)."""
    raw = environ.get(THREAD_COUNT_SETTING, "").strip()
    if not raw:
        return default_thread_count()
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    logger.warning(
        "%s=%r is not a positive integer; using the default (%d threads)",
        THREAD_COUNT_SETTING,
        raw,
        default_thread_count(),
    )
    return default_thread_count()


def process_count(environ: Mapping[str, str]) -> int:
    """``FUNCTIONS_WORKER_PROCESS_COUNT`` (1-10, default 1), as the host reads it."""
    raw = environ.get(PROCESS_COUNT_SETTING, "").strip()
    if not raw:
        return 1
    if raw.isdigit() and 1 <= int(raw) <= MAX_PROCESS_COUNT:
        return int(raw)
    logger.warning(
        "%s=%r is not between 1 and %d; using 1", PROCESS_COUNT_SETTING, raw, MAX_PROCESS_COUNT
    )
    return 1


def format_timespan(value: dt.timedelta) -> str:
    """.NET ``TimeSpan.ToString()``: ``[d.]hh:mm:ss[.fffffff]``."""
    total_us = round(value.total_seconds() * 1_000_000)
    days, rest_us = divmod(total_us, 86_400_000_000)
    hours, rest_us = divmod(rest_us, 3_600_000_000)
    minutes, rest_us = divmod(rest_us, 60_000_000)
    seconds, micros = divmod(rest_us, 1_000_000)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if micros:
        text += f".{micros:06d}0"
    return f"{days}.{text}" if days else text


class FunctionTimeoutError(Exception):
    """The invocation ran past ``functionTimeout`` (WebJobs ``FunctionTimeoutException``)."""

    def __init__(self, function_name: str, timeout: dt.timedelta) -> None:
        super().__init__(
            f"Timeout value of {format_timespan(timeout)} was exceeded by function: "
            f"Functions.{function_name}"
        )
        self.function_name = function_name
        self.timeout = timeout


class FunctionRunner(ABC):
    """Where invocations run: one in-process :class:`Worker`, or worker processes.

    :meth:`invoke` and :meth:`orchestrate` are the two kinds of invocation; each runner says how it
    carries one out in :meth:`dispatch` (``op`` is ``"invoke"`` or ``"orchestrate"``).
    """

    @property
    @abstractmethod
    def threads(self) -> int: ...

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self, cleanup: Coroutine[Any, Any, Any] | None = None) -> None: ...

    async def invoke(
        self,
        entry: IndexedFunction,
        kwargs: dict[str, Any],
        *,
        invocation: func.Context,
        function_timeout: dt.timedelta | None,
    ) -> Any:
        """Call a user function with ``kwargs`` (+ ``context`` if it wants one)."""
        return await self.dispatch(Dispatch("invoke", entry, kwargs, invocation, function_timeout))

    async def orchestrate(
        self,
        entry: IndexedFunction,
        context: dict[str, Any],
        *,
        invocation: func.Context,
        function_timeout: dt.timedelta | None,
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Run one orchestrator episode: :func:`devhost.episode.call_orchestrator`."""
        state, error = await self.dispatch(
            Dispatch("orchestrate", entry, context, invocation, function_timeout)
        )
        return state, error

    @abstractmethod
    async def dispatch(self, call: Dispatch) -> Any:
        """Carry out one invocation."""


def log_timeout(
    function_name: str, invocation_id: str, timeout: dt.timedelta, consequence: str
) -> None:
    logger.error(
        "Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). "
        "Initiating cancellation.",
        format_timespan(timeout),
        function_name,
        invocation_id,
    )
    logger.warning(
        "A function timeout has occurred. %s (invocationId '%s').", consequence, invocation_id
    )


class Worker(FunctionRunner):
    """One worker's event loop (on its own thread) and synchronous thread pool."""

    def __init__(self, threads: int, *, name: str = "worker") -> None:
        self._threads = threads
        self.name = name
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=f"{name}-sync"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._busy = 0
        self._busy_lock = threading.Lock()

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the worker is not started")
        return self._loop

    @property
    def busy_threads(self) -> int:
        """Synchronous invocations running right now (at most ``threads``)."""
        return self._busy

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"{self.name}-loop", daemon=True)
        self._thread.start()
        ready.wait()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the worker's loop (from any thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def dispatch(self, call: Dispatch) -> Any:
        entry, payload = call.entry, call.payload
        if call.op == "orchestrate":
            fn: Callable[..., Any] = call_orchestrator
            kwargs, is_async = {"entry": entry, "context": payload}, False
        else:
            fn, is_async = entry.user_function, entry.is_async
            kwargs = {**payload, "context": call.invocation} if entry.wants_context else payload
        return await self.call(
            fn,
            kwargs,
            is_async=is_async,
            function_name=entry.name,
            invocation_id=call.invocation.invocation_id,
            function_timeout=call.function_timeout,
        )

    async def call(
        self,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        *,
        is_async: bool,
        function_name: str,
        invocation_id: str,
        function_timeout: dt.timedelta | None = None,
    ) -> Any:
        """Invoke ``fn(**kwargs)`` as the worker does; the caller may be on any loop.

        Raises :class:`FunctionTimeoutError` after ``function_timeout`` (the invocation is
        abandoned: an ``async def`` function is cancelled, a synchronous one keeps running).
        """
        future = self.submit(self.run(fn, kwargs, is_async))
        waiting = asyncio.wrap_future(future)
        timeout = function_timeout
        if timeout is None:
            return await waiting
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), timeout.total_seconds())
        except TimeoutError:
            future.cancel()
            log_timeout(
                function_name,
                invocation_id,
                timeout,
                "Azure restarts the worker process; the in-process worker cannot stop a thread, "
                "so the invocation keeps its pool thread until it returns"
                if not is_async
                else "Azure restarts the worker process; the in-process worker cancels the "
                "invocation's coroutine",
            )
            raise FunctionTimeoutError(function_name, timeout) from None

    async def run(self, fn: Callable[..., Any], kwargs: dict[str, Any], is_async: bool) -> Any:
        """On the worker's loop: await an ``async def`` function, or run a sync one on the pool."""
        if is_async:
            return await fn(**kwargs)
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(self._counted, fn, kwargs)
        )

    def _counted(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        with self._busy_lock:
            self._busy += 1
        try:
            return fn(**kwargs)
        finally:
            with self._busy_lock:
                self._busy -= 1

    async def _shutdown(self, cleanup: Coroutine[Any, Any, Any] | None) -> None:
        """Cancel the invocations still on the loop (threads run on), then run ``cleanup``."""
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        if cleanup is not None:
            await cleanup

    def stop(self, cleanup: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run ``cleanup`` on the loop (e.g. close the SDK's session), then stop the worker."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            if cleanup is not None:
                cleanup.close()
            self.pool.shutdown(wait=False, cancel_futures=True)
            return
        try:
            self.submit(self._shutdown(cleanup)).result(timeout=10)
        except Exception:  # best effort at shutdown
            logger.debug("worker cleanup failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._thread = self._loop = None
        self.pool.shutdown(wait=False, cancel_futures=True)
