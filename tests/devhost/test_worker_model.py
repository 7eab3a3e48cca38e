"""The dev host runs functions the way the Python worker does, so what starves in Azure starves here.

The app under ``app/limits`` has a 4-second ``functionTimeout``; the host runs with a 2-thread
pool (``PYTHON_THREADPOOL_THREAD_COUNT=2``) and a 2-second front-end response limit (Azure: 230 s).
Times come from the functions themselves (the worker's ``time.monotonic()``) or from the caller;
the bounds are wide so a loaded machine cannot flip them, and each would fail under the old model
(separate pools per kind of function, async functions on the host's own loop, no limits).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess
from tests.devhost.conftest import host_env, new_hub_name, started

APP_DIR = Path(__file__).parent / "app" / "limits"
THREADS = 2
RESPONSE_LIMIT_S = 2.0


@pytest.fixture(scope="module")
def host(platform_account: EmulatorAccount) -> Iterator[DevHostProcess]:
    env = {
        **host_env(platform_account, new_hub_name()),
        "PYTHON_THREADPOOL_THREAD_COUNT": str(THREADS),
    }
    with started(
        DevHostProcess(
            APP_DIR, env=env, extra_args=("--http-response-limit", str(RESPONSE_LIMIT_S))
        )
    ) as process:
        yield process


def get(host: DevHostProcess, path: str, timeout: float = 30.0) -> tuple[int, str, float]:
    """GET ``path``; returns (status, body, seconds the caller waited)."""
    began = time.monotonic()
    try:
        with urllib.request.urlopen(host.url(path), timeout=timeout) as response:
            return response.status, response.read().decode(), time.monotonic() - began
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), time.monotonic() - began


def get_json(host: DevHostProcess, path: str) -> dict[str, Any]:
    status, body, _ = get(host, path)
    assert status == 200, body
    result: dict[str, Any] = json.loads(body)
    return result


def wait_idle(host: DevHostProcess) -> None:
    """Wait until both pool threads are free (a ping answers at once)."""
    deadline = time.monotonic() + 30
    while get(host, "/api/ping")[2] > 0.3:
        assert time.monotonic() < deadline, "the worker's pool never drained"


def test_sync_functions_of_every_kind_share_one_pool(host: DevHostProcess) -> None:
    wait_idle(host)
    with ThreadPoolExecutor(4) as callers:
        blockers = [
            callers.submit(get_json, host, "/api/block?seconds=1.5") for _ in range(THREADS)
        ]
        time.sleep(0.4)  # both pool threads are now sleeping in `block`
        # a sync HTTP function waits for a thread; an async one runs on the loop at once
        waiting_ping: Future[tuple[int, str, float]] = callers.submit(get, host, "/api/ping")
        status, body, async_wait = get(host, "/api/async-ping")
        assert status == 200 and async_wait < 0.8, (async_wait, body)
        # an orchestrator episode is a sync invocation too: the instance stays Pending
        instance_url = start_orchestration(host, "quick_steps")
        assert instance_status(instance_url) == "Pending"
        blocked = [b.result() for b in blockers]
        _, ping_body, ping_wait = waiting_ping.result()
    ping = json.loads(ping_body)
    assert ping_wait > 0.7, "the sync ping did not wait for a free pool thread"
    assert ping["started"] >= min(b["ended"] for b in blocked) - 0.05
    threads = {b["thread"] for b in blocked} | {ping["thread"]}
    assert len(threads) <= THREADS and all(t.startswith("worker-sync") for t in threads)
    deadline = time.monotonic() + 30
    while instance_status(instance_url) != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_an_async_function_blocking_the_loop_delays_other_async_functions(
    host: DevHostProcess,
) -> None:
    wait_idle(host)
    with ThreadPoolExecutor(2) as callers:
        blocker = callers.submit(get_json, host, "/api/async-block?seconds=1.5")
        time.sleep(0.4)
        status, body, async_wait = get(host, "/api/async-ping")
        # the host itself (a separate process in Azure) still answers while the loop is stuck
        _, _, host_wait = get(host, "/admin/host/ping")
        blocked = blocker.result()
    ping = json.loads(body)
    assert status == 200 and async_wait > 0.7, async_wait
    assert ping["started"] >= blocked["ended"] - 0.05
    assert ping["thread"] == blocked["thread"]  # the one event loop
    assert host_wait < 0.5


def test_http_response_limit_answers_500_while_the_function_runs_on(host: DevHostProcess) -> None:
    wait_idle(host)
    status, body, waited = get(host, "/api/slow/limit-1?seconds=3")
    assert status == 500 and "The request timed out" in body
    assert RESPONSE_LIMIT_S - 0.1 <= waited < RESPONSE_LIMIT_S + 1.0
    assert "limit-1" not in get_json_list(host, "/api/finished")
    deadline = time.monotonic() + 10
    while "limit-1" not in get_json_list(host, "/api/finished"):
        assert time.monotonic() < deadline, "the function did not keep running"
        time.sleep(0.1)


def test_an_activity_past_function_timeout_fails_with_the_hosts_message(
    host: DevHostProcess,
) -> None:
    wait_idle(host)
    # the SDK's encoding: a JSON string holding df_dumps(6)
    url = start_orchestration(host, "times_out", json.dumps("6"))
    began = time.monotonic()
    time.sleep(1.0)
    # while the activity runs, showHistory lists its TaskScheduled row (as the extension does)
    running = instance_payload(url + "&showHistory=true")
    assert running["runtimeStatus"] == "Running"
    kinds = {e["EventType"]: e for e in running["historyEvents"]}
    assert kinds["TaskScheduled"]["Name"] == "sleepy"
    assert kinds["ExecutionStarted"]["FunctionName"] == "times_out"
    assert "OrchestrationInstance" not in kinds["ExecutionStarted"]
    while (state := instance_payload(url))["runtimeStatus"] != "Completed":
        assert time.monotonic() - began < 30, state
        time.sleep(0.1)
    assert 3.5 < time.monotonic() - began < 6.0  # failed at functionTimeout, not at 6 s
    assert state["output"]["failed"].strip() == (
        "Activity function 'sleepy' failed: "
        "Timeout value of 00:00:04 was exceeded by function: Functions.sleepy"
    )
    log = host.log_text()
    assert "Timeout value of 00:00:04 exceeded by function 'Functions.sleepy'" in log


def test_an_orchestrator_episode_past_function_timeout_is_aborted_and_run_again(
    host: DevHostProcess,
) -> None:
    wait_idle(host)
    url = start_orchestration(host, "slow_start", json.dumps("5"))
    deadline = time.monotonic() + 30
    while (state := instance_payload(url))["runtimeStatus"] != "Completed":
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    # the first episode timed out and was discarded; the retried ones completed the instance
    assert state["output"]["episodes"] >= 2
    assert "Timeout value of 00:00:04 exceeded by function 'Functions.slow_start'" in (
        host.log_text()
    )


# --------------------------------------------------------------------------- helpers
def get_json_list(host: DevHostProcess, path: str) -> list[str]:
    status, body, _ = get(host, path)
    assert status == 200, body
    value: list[str] = json.loads(body)
    return value


def post(host: DevHostProcess, path: str, body: str = "") -> tuple[int, str, float]:
    began = time.monotonic()
    request = urllib.request.Request(
        host.url(path),
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), time.monotonic() - began
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), time.monotonic() - began


def start_orchestration(host: DevHostProcess, name: str, body: str = "") -> str:
    """Start orchestrator ``name`` through the extension's webhook; its ``statusQueryGetUri``."""
    status, text, _ = post(host, f"/runtime/webhooks/durabletask/orchestrators/{name}", body)
    assert status == 202, text
    return str(json.loads(text)["statusQueryGetUri"])


def instance_payload(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            payload: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as err:
        payload = json.loads(err.read())
    return payload


def instance_status(url: str) -> str:
    return str(instance_payload(url)["runtimeStatus"])
