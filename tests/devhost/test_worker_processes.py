"""``FUNCTIONS_WORKER_PROCESS_COUNT``: several worker processes, invocations dealt in turn.

Same app as ``test_worker_model`` (``functionTimeout`` 4 s), two worker processes. The host
hands HTTP invocations, orchestrator episodes and activities to the next process in turn, and
restarts the process of an invocation that runs past ``functionTimeout``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess
from tests.devhost.conftest import host_env, new_hub_name, started
from tests.devhost.test_worker_model import get, instance_payload, start_orchestration

APP_DIR = Path(__file__).parent / "app" / "limits"


@pytest.fixture(scope="module")
def host(platform_account: EmulatorAccount) -> Iterator[DevHostProcess]:
    env = {
        **host_env(platform_account, new_hub_name()),
        "FUNCTIONS_WORKER_PROCESS_COUNT": "2",
        "PYTHON_THREADPOOL_THREAD_COUNT": "4",
    }
    with started(DevHostProcess(APP_DIR, env=env)) as process:
        yield process


def worker_pid(host: DevHostProcess) -> int:
    status, body, _ = get(host, "/api/pid")
    assert status == 200, body
    return int(json.loads(body))


def run(host: DevHostProcess, name: str, value: Any) -> dict[str, Any]:
    url = start_orchestration(host, name, json.dumps(json.dumps(value)))
    deadline = time.monotonic() + 60
    while (state := instance_payload(url))["runtimeStatus"] not in ("Completed", "Failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    return state


def test_http_invocations_alternate_between_two_worker_processes(host: DevHostProcess) -> None:
    pids = [worker_pid(host) for _ in range(6)]
    counts = Counter(pids)
    assert len(counts) == 2 and set(counts.values()) == {3}
    assert host.pid not in counts  # the functions run outside the host's process
    assert all(a != b for a, b in itertools.pairwise(pids))


def test_activities_of_a_fan_out_run_in_both_processes(host: DevHostProcess) -> None:
    workers = {worker_pid(host), worker_pid(host)}
    state = run(host, "spread", 8)
    assert state["runtimeStatus"] == "Completed"
    assert set(state["output"]) == workers


def test_a_timeout_restarts_the_worker_process_that_ran_it(host: DevHostProcess) -> None:
    before = {worker_pid(host), worker_pid(host)}
    state = run(host, "times_out", 6)
    assert state["output"]["failed"].strip() == (
        "Activity function 'sleepy' failed: "
        "Timeout value of 00:00:04 was exceeded by function: Functions.sleepy"
    )
    after = {worker_pid(host), worker_pid(host)}
    assert len(after) == 2 and len(after & before) == 1  # one process replaced, one kept
    assert "Restart of language worker process(es) completed." in host.log_text()
    # the app still works on the new process
    assert run(host, "spread", 4)["runtimeStatus"] == "Completed"
