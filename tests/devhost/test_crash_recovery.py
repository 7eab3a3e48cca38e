"""kill -9 in the middle of an orchestration, restart on the same port: the run completes.

Each activity execution inserts its own row in an Azurite table, so the test can count runs:
activities whose completion was committed before the kill run exactly once, the one in flight
may run again (at-least-once), and the durable timer after the restart still fires.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from azure.data.tables import TableServiceClient
from azure.durable_functions import DurableOrchestrationClient, OrchestrationRuntimeStatus
from azure.durable_functions.models.DurableOrchestrationStatus import (
    DurableOrchestrationStatus,
)

from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess

from .conftest import APP_DIR, host_env, new_hub_name, run_client, started, wait_for

pytestmark = pytest.mark.slow  # starts dev host subprocesses
STEPS = 10


@pytest.fixture
def host(platform_account: EmulatorAccount) -> Iterator[DevHostProcess]:
    with started(
        DevHostProcess(APP_DIR, env=host_env(platform_account, new_hub_name()))
    ) as process:
        yield process


def test_kill_mid_orchestration_and_restart_completes_exactly_once(
    host: DevHostProcess, platform_account: EmulatorAccount
) -> None:
    tables = TableServiceClient.from_connection_string(platform_account.connection_string)
    record_table = tables.create_table(f"Steps{uuid.uuid4().hex[:10]}")
    run = uuid.uuid4().hex
    spec = {"steps": STEPS, "sleep": 0.25, "record": {"table": record_table.table_name, "run": run}}

    async def start(client: DurableOrchestrationClient) -> str:
        instance_id = await client.start_new("recorded_steps", None, spec)
        await wait_for(
            client,
            instance_id,
            until=lambda s: s.runtime_status is OrchestrationRuntimeStatus.Running,
        )
        return instance_id

    instance_id = run_client(host.durable_client_binding(), start)

    def executions() -> Counter[int]:
        rows = record_table.query_entities("PartitionKey eq @run", parameters={"run": run})
        return Counter(int(r["Step"]) for r in rows)

    deadline = time.monotonic() + 30
    while sum(executions().values()) < 4:
        assert time.monotonic() < deadline, "the activities did not start"
        time.sleep(0.05)

    history_table = tables.get_table_client(f"{host.env['DEVHOST_TEST_HUB']}History")
    committed = {
        int(r["TaskScheduledId"])
        for r in history_table.query_entities("PartitionKey eq @pk", parameters={"pk": instance_id})
        if r.get("EventType") == "TaskCompleted"
    }
    pid = host.pid
    host.kill()
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
    ran_before_kill = executions()
    assert committed, "some completions should have been committed before the kill"
    assert sum(ran_before_kill.values()) < STEPS, "the kill must land mid-orchestration"

    host.restart()

    async def finish(client: DurableOrchestrationClient) -> DurableOrchestrationStatus:
        return await wait_for(client, instance_id, seconds=90)

    status = run_client(host.durable_client_binding(), finish)
    assert status.runtime_status is OrchestrationRuntimeStatus.Completed
    assert status.output == {"steps": list(range(STEPS)), "final": 999}
    counts = executions()
    assert set(counts) == {*range(STEPS), 999}
    for step in committed:  # task id == step: the activities run one after another
        assert counts[step] == 1, f"step {step} was completed before the kill and ran again"
    reruns = [step for step, n in counts.items() if n > 1]
    assert len(reruns) <= 1 and all(counts[s] == 2 for s in reruns)  # only the one in flight
    assert "Resumed 1 orchestration instance(s)" in host.log_text()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split()[2] == "Z"
    except FileNotFoundError:
        return True
