"""Helpers for tests, the demo and the benchmark.

Two ways to run an app:

:class:`DevHostProcess` - the real thing, as a **subprocess** (``python -m devhost``)::

    with DevHostProcess(app_dir, env={"AzureWebJobsStorage": account.connection_string}) as host:
        httpx.post(host.url("/api/orchestrators/fan_out"), json={"n": 10})
        host.kill()          # SIGKILL, as a crash
        host.restart()       # same port, same workspace (keys), running instances resume
        print(host.log_text())

  It picks a free port (or takes ``port=``), waits until ``/admin/host/ping`` answers, and keeps a
  workspace directory (a temporary one unless ``workspace=`` is given) holding ``devhost.log`` and,
  with ``require_keys=True``, ``keys.json`` (see :meth:`DevHostProcess.keys`). ``env`` is layered
  over the current environment, and - as on the command line - the environment wins over the
  app's ``local.settings.json``.

:class:`InProcessApp` - call an HTTP-triggered function of an app **in this process**, without a
network hop: the app is imported here (so ``sys.path``, ``sys.modules`` and module state are
shared with the caller; load one app per test process), routed with the same router and invoked
the same way as by the host. Keys are not checked. A function with ``durable_client_input`` needs
``client_binding=`` - e.g. :meth:`DevHostProcess.durable_client_binding` of a running host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from devhost.azurite import PROJECT_ROOT, free_port
from devhost.config import HostConfig
from devhost.http_server import build_router, invoke_http_function
from devhost.invoke import HttpResult, close_sdk_session, prime_serialization_notice
from devhost.keys import HostKeys
from devhost.loader import FunctionIndex, IndexedFunction, load_app
from devhost.routing import Router

__all__ = ["DevHostProcess", "DevHostStartError", "HttpResult", "InProcessApp"]

LOG_FILE_NAME = "devhost.log"


class DevHostStartError(RuntimeError):
    """The dev host exited or did not answer in time; the message ends with its log."""


class DevHostProcess:
    """``python -m devhost`` as a child process with a fixed port across restarts."""

    def __init__(
        self,
        app_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        require_keys: bool = False,
        workspace: Path | None = None,
        python: str = sys.executable,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.env = dict(env or {})
        self.port = port or free_port()
        self.require_keys = require_keys
        self._own_workspace = workspace is None
        self.workspace = Path(workspace or tempfile.mkdtemp(prefix="devhost-")).resolve()
        self.python = python
        self.extra_args = extra_args
        self._proc: subprocess.Popen[bytes] | None = None

    # -- properties --------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the dev host is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.workspace / LOG_FILE_NAME

    def url(self, path: str) -> str:
        """Absolute URL for a path on the host, e.g. ``url("/api/items/1")``."""
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def log_text(self) -> str:
        """Everything the host printed, across restarts."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def keys(self) -> HostKeys:
        """The keys of a host started with ``require_keys=True``."""
        return HostKeys.read(self.workspace)

    # -- lifecycle ---------------------------------------------------------------------
    def _command(self) -> list[str]:
        command = [self.python, "-m", "devhost", str(self.app_dir), "--port", str(self.port)]
        command += ["--workspace", str(self.workspace)]
        if self.require_keys:
            command.append("--require-keys")
        return command + list(self.extra_args)

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        paths = [str(PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def launch(self) -> DevHostProcess:
        """Start the process without waiting for it to answer (see :meth:`start`)."""
        if self.running:
            raise RuntimeError("the dev host is already running")
        self.workspace.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                cwd=self.app_dir,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def start(self, timeout: float = 60.0) -> DevHostProcess:
        """Start and wait until ``/admin/host/ping`` answers."""
        self.launch()
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise DevHostStartError(
                    f"the dev host exited with code {code}:\n{self.log_text()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(self.url("/admin/host/ping"), timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise DevHostStartError(
                    f"the dev host did not answer within {timeout:.0f}s:\n{self.log_text()[-4000:]}"
                )
            time.sleep(0.1)

    def wait_exit(self, timeout: float = 60.0) -> int:
        """Wait for the process to end by itself (e.g. refused at load); returns its exit code."""
        if self._proc is None:
            raise RuntimeError("the dev host is not running")
        try:
            code = self._proc.wait(timeout=timeout)
        finally:
            if self._proc.poll() is None:
                self.kill()
        self._proc = None
        return code

    def kill(self) -> None:
        """SIGKILL the host (a crash: nothing is flushed, in-flight work is lost)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> int | None:
        """Graceful stop (SIGTERM), SIGKILL after ``timeout``; returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                return proc.wait()
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                return proc.wait(timeout=30)
        return proc.returncode

    def restart(self, timeout: float = 60.0) -> DevHostProcess:
        """Stop (if running) and start again on the same port with the same workspace."""
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Stop and remove a temporary workspace."""
        self.stop()
        if self._own_workspace:
            shutil.rmtree(self.workspace, ignore_errors=True)

    def __enter__(self) -> DevHostProcess:
        return self.start() if not self.running else self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- durable client ----------------------------------------------------------------
    def _admin_headers(self) -> dict[str, str]:
        return {"x-functions-key": self.keys().master} if self.require_keys else {}

    def durable_client_binding(self) -> str:
        """A ``durableClient`` binding string for this host.

        ``azure.durable_functions.DurableOrchestrationClient(binding)`` then talks to the host the
        way a client function's client does (start, status, raise, terminate, purge, ...).
        """
        request = urllib.request.Request(  # noqa: S310
            self.url("/admin/devhost/durable-client"), headers=self._admin_headers()
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return str(answer.read().decode())

    def status(self) -> dict[str, Any]:
        """``/admin/host/status``: task hub and engine counters (episodes, activities)."""
        request = urllib.request.Request(  # noqa: S310
            self.url("/admin/host/status"), headers=self._admin_headers()
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            data = json.loads(answer.read())
        return data if isinstance(data, dict) else {}


class InProcessApp:
    """Invoke HTTP-triggered functions of an app in the current process (no network, no keys)."""

    def __init__(self, app_dir: Path, *, hub_name: str | None = None) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.config = HostConfig.load(self.app_dir)
        prime_serialization_notice()
        self.index: FunctionIndex = load_app(self.app_dir, hub_name=hub_name, isolate=True)
        self.router: Router[IndexedFunction] = build_router(self.index, self.config.route_prefix)

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json_body: Any = None,
        client_binding: str | None = None,
    ) -> HttpResult:
        """Synchronous :meth:`acall` (not from inside a running event loop)."""

        async def once() -> HttpResult:
            try:
                return await self.acall(
                    method,
                    path,
                    query=query,
                    headers=headers,
                    body=body,
                    json_body=json_body,
                    client_binding=client_binding,
                )
            finally:
                await close_sdk_session()  # the SDK's session must not outlive this loop

        return asyncio.run(once())

    async def acall(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        json_body: Any = None,
        client_binding: str | None = None,
    ) -> HttpResult:
        """Route ``method path`` (e.g. ``"GET", "/api/items/3"``) and invoke the function.

        Unknown routes (or a method the route does not accept) give a 404 result, as the host.
        """
        parsed = urllib.parse.urlsplit(path)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        params.update(query or {})
        all_headers = dict(headers or {})
        payload = body.encode() if isinstance(body, str) else (body or b"")
        if json_body is not None:
            payload = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        match = self.router.match(method, parsed.path)
        if match is None:
            return HttpResult(404, [], b"")
        url = "http://localhost" + parsed.path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        return await invoke_http_function(
            match.route.target,
            method=method,
            url=url,
            headers=all_headers,
            params=params,
            route_params=match.values,
            body=payload,
            client_binding=client_binding,
            executor=None,
            function_directory=str(self.app_dir),
        )
