"""End-to-end scenarios: the scenario app on a dev host subprocess, driven over HTTP.

Orchestrations are started and watched with the real ``DurableOrchestrationClient`` (built from
the host's binding, i.e. through ``rpcBaseUrl``) and through the app's own HTTP starters (which use
``durable_client_input``), and the task hub is inspected in Azurite.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import time
import uuid

import httpx
import pytest
from azure.data.tables import TableServiceClient
from azure.durable_functions import DurableOrchestrationClient, OrchestrationRuntimeStatus
from azure.durable_functions.models.DurableOrchestrationStatus import (
    DurableOrchestrationStatus,
)

from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess, InProcessApp

from .conftest import APP_DIR, run_client, wait_for

pytestmark = pytest.mark.slow  # starts dev host subprocesses
Running = OrchestrationRuntimeStatus.Running


@pytest.fixture(scope="module")
def binding(devhost: DevHostProcess) -> str:
    return devhost.durable_client_binding()


def episodes_of(host: DevHostProcess, function: str, instance_id: str) -> int:
    pattern = re.compile(
        rf"Executed 'Functions\.{function}' \(\w+, Id=[^,]+, Duration=\d+ms, "
        rf"InstanceId={re.escape(instance_id)}\)"
    )
    return len(pattern.findall(host.log_text()))


def test_http_starter_returns_working_management_urls(devhost: DevHostProcess) -> None:
    started = httpx.post(devhost.url("/api/orchestrators/fan_out"), json={"n": 5})
    assert started.status_code == 202
    urls = started.json()
    instance_id = urls["id"]
    assert started.headers["Location"] == urls["statusQueryGetUri"]
    for key in (
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "suspendPostUri",
        "resumePostUri",
    ):
        assert urls[key].startswith(devhost.url("/runtime/webhooks/durabletask/instances/"))
        assert instance_id in urls[key]
    deadline = time.monotonic() + 30
    while (status := httpx.get(urls["statusQueryGetUri"])).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status.status_code == 200
    body = status.json()
    assert body["runtimeStatus"] == "Completed"
    assert body["output"] == 30
    assert body["customStatus"] == {"done": 5}
    assert body["input"] == '{"n": 5}'  # a JSON string, as Azure returns it
    through_app = httpx.get(devhost.url(f"/api/status/{instance_id}")).json()
    assert through_app == {"runtimeStatus": "Completed", "output": 30, "customStatus": {"done": 5}}


def test_fan_out_of_1000_activities(
    devhost: DevHostProcess, binding: str, record_property: pytest.RecordProperty
) -> None:
    async def scenario(
        client: DurableOrchestrationClient,
    ) -> tuple[str, float, DurableOrchestrationStatus]:
        began = time.monotonic()
        instance_id = await client.start_new("fan_out", None, {"n": 1000})
        status = await wait_for(client, instance_id, seconds=120)
        return instance_id, time.monotonic() - began, status

    instance_id, wall, status = run_client(binding, scenario)
    assert status.runtime_status is OrchestrationRuntimeStatus.Completed
    assert status.output == sum(i * i for i in range(1000))
    assert status.custom_status == {"done": 1000}
    replays = episodes_of(devhost, "fan_out", instance_id)
    record_property("fan_out_1000_wall_seconds", round(wall, 2))
    record_property("fan_out_1000_orchestrator_episodes", replays)
    print(f"\nfan-out of 1000: {wall:.2f}s wall, {replays} orchestrator episodes")
    # completions are folded into episodes: far fewer replays than activities
    assert 2 <= replays <= 60
    assert episodes_of(devhost, "square", instance_id) == 1000


def test_activity_retry(devhost: DevHostProcess, binding: str) -> None:
    async def scenario(client: DurableOrchestrationClient) -> DurableOrchestrationStatus:
        instance_id = await client.start_new("retry_orchestrator", None, {"key": uuid.uuid4().hex})
        return await wait_for(client, instance_id, show_history=True)

    status = run_client(binding, scenario)
    assert status.output["recovered"] == "succeeded on attempt 3"
    assert status.output["plain"] == 9
    assert status.output["exhausted"].startswith(
        "Activity function 'flaky' failed: RuntimeError: transient failure 2"
    )
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds.count("TaskFailed") == 4  # 2 before success, 2 exhausting the second retry
    assert kinds.count("TimerFired") == 4  # 3 retry intervals and the final "dummy" timer


def test_external_event_wins_race_against_timer(devhost: DevHostProcess, binding: str) -> None:
    async def scenario(
        client: DurableOrchestrationClient,
    ) -> tuple[DurableOrchestrationStatus, float]:
        began = time.monotonic()
        instance_id = await client.start_new("approval", None, {"timeout_s": 30})
        await wait_for(client, instance_id, until=lambda s: s.runtime_status is Running)
        await client.raise_event(instance_id, "Approve", {"by": "alice"})
        return await wait_for(client, instance_id), time.monotonic() - began

    status, elapsed = run_client(binding, scenario)
    # raise_event double-encodes: the waiter receives the JSON text, in Azure too
    assert status.output == {"approved": '{"by": "alice"}'}
    assert elapsed < 15  # the 30 s timer was canceled, not waited for


def test_timer_wins_when_no_event_arrives(devhost: DevHostProcess, binding: str) -> None:
    async def scenario(
        client: DurableOrchestrationClient,
    ) -> tuple[DurableOrchestrationStatus, float]:
        began = time.monotonic()
        instance_id = await client.start_new("approval", None, {"timeout_s": 1})
        return await wait_for(client, instance_id), time.monotonic() - began

    status, elapsed = run_client(binding, scenario)
    assert status.output == {"approved": None, "timed_out": True}
    assert elapsed >= 1.0


def test_sub_orchestrations(devhost: DevHostProcess, binding: str) -> None:
    async def scenario(
        client: DurableOrchestrationClient,
    ) -> tuple[DurableOrchestrationStatus, DurableOrchestrationStatus]:
        instance_id = await client.start_new("parent_orchestrator", None, None)
        parent = await wait_for(client, instance_id, show_history=True)
        explicit = await client.get_status(f"{instance_id}-explicit")
        return parent, explicit

    parent, explicit = run_client(binding, scenario)
    assert parent.output == [5, 10, 17, 1]
    completed = [
        e for e in parent.historyEvents if e["EventType"] == "SubOrchestrationInstanceCompleted"
    ]
    assert [e["FunctionName"] for e in completed] == ["child_orchestrator"] * 4
    assert explicit.runtime_status is OrchestrationRuntimeStatus.Completed
    assert explicit.output == 1


def test_continue_as_new_over_50_generations(
    devhost: DevHostProcess, binding: str, platform_account: EmulatorAccount, hub_name: str
) -> None:
    async def scenario(client: DurableOrchestrationClient) -> DurableOrchestrationStatus:
        instance_id = await client.start_new(
            "eternal", None, {"generation": 0, "total": 0, "last": 50}
        )
        return await wait_for(client, instance_id, seconds=120)

    status = run_client(binding, scenario)
    assert status.runtime_status is OrchestrationRuntimeStatus.Completed
    assert status.output == {"finished_at": 50, "total": 2 * sum(range(51))}
    assert status.custom_status == {"generation": 50}
    assert status.input_ == '{"generation": 50, "total": 2450, "last": 50}'
    tables = TableServiceClient.from_connection_string(platform_account.connection_string)
    row = tables.get_table_client(f"{hub_name}Instances").get_entity(
        status.instance_id,
        "",
    )
    assert row["Generation"] == 50
    history = list(
        tables.get_table_client(f"{hub_name}History").query_entities(
            "PartitionKey eq @pk",
            parameters={"pk": status.instance_id},
        )
    )
    executions = {r["ExecutionId"] for r in history}
    assert executions == {row["ExecutionId"]}  # only the last generation's rows remain


def test_orchestrator_exception_fails_the_instance(devhost: DevHostProcess, binding: str) -> None:
    async def scenario(client: DurableOrchestrationClient) -> DurableOrchestrationStatus:
        return await wait_for(client, await client.start_new("crash", None, None))

    status = run_client(binding, scenario)
    assert status.runtime_status is OrchestrationRuntimeStatus.Failed
    assert status.output == "Orchestrator function 'crash' failed: orchestrator exploded"
    log = devhost.log_text()
    failed = rf"Executed 'Functions\.crash' \(Failed, Id=[^,]+, Duration=\d+ms, InstanceId={status.instance_id}\)"
    assert re.search(failed, log)


def test_non_determinism_is_detected(devhost: DevHostProcess, binding: str) -> None:
    async def scenario(client: DurableOrchestrationClient) -> DurableOrchestrationStatus:
        return await wait_for(client, await client.start_new("nondeterministic", None, None))

    status = run_client(binding, scenario)
    assert status.runtime_status is OrchestrationRuntimeStatus.Failed
    # DTFx fails the orchestration with the exception's own message; the "Orchestrator function
    # 'x' failed:" prefix is only for exceptions the function raises
    assert status.output.startswith("Non-Deterministic workflow detected: ")
    assert "Orchestrator function" not in status.output


def test_terminate_then_purge(devhost: DevHostProcess, binding: str) -> None:
    instance_id = f"term-{uuid.uuid4().hex[:8]}"

    async def scenario(client: DurableOrchestrationClient) -> None:
        await client.start_new("wait_forever", instance_id, None)
        await wait_for(client, instance_id, until=lambda s: s.runtime_status is Running)
        await client.terminate(instance_id, "no longer needed")
        status = await wait_for(client, instance_id, show_history=True)
        assert status.runtime_status is OrchestrationRuntimeStatus.Terminated
        assert status.output == "no longer needed"
        assert "ExecutionTerminated" in [e["EventType"] for e in status.historyEvents]
        with pytest.raises(Exception, match="is gone"):
            await client.raise_event(instance_id, "Finish", 1)
        assert (await client.purge_instance_history(instance_id)).instances_deleted == 1
        assert not await client.get_status(instance_id)
        assert (await client.purge_instance_history(instance_id)).instances_deleted == 0

    run_client(binding, scenario)


def test_suspend_holds_events_until_resume(devhost: DevHostProcess, binding: str) -> None:
    async def scenario(client: DurableOrchestrationClient) -> None:
        instance_id = await client.start_new("wait_forever", None, None)
        await wait_for(client, instance_id, until=lambda s: s.runtime_status is Running)
        await client.suspend(instance_id, "maintenance")
        suspended = OrchestrationRuntimeStatus.Suspended
        await wait_for(client, instance_id, until=lambda s: s.runtime_status is suspended)
        await client.raise_event(instance_id, "Finish", "done")
        await asyncio.sleep(0.5)
        assert (await client.get_status(instance_id)).runtime_status is suspended
        await client.resume(instance_id, "back")
        status = await wait_for(client, instance_id)
        assert status.runtime_status is OrchestrationRuntimeStatus.Completed
        assert status.output == '"done"'

    run_client(binding, scenario)


def test_singleton_start_is_refused_while_running(devhost: DevHostProcess, binding: str) -> None:
    instance_id = f"single-{uuid.uuid4().hex[:8]}"
    first = httpx.post(devhost.url(f"/api/singleton/{instance_id}"))
    assert first.status_code == 202
    second = httpx.post(devhost.url(f"/api/singleton/{instance_id}"))
    assert second.status_code == 409
    assert second.json() == {"error": "already running", "status": "Running"}

    async def scenario(client: DurableOrchestrationClient) -> None:
        with pytest.raises(Exception, match="already exists"):
            await client.start_new("wait_forever", instance_id, None)
        await client.terminate(instance_id, "make room")
        await wait_for(client, instance_id)

    run_client(binding, scenario)
    assert httpx.post(devhost.url(f"/api/singleton/{instance_id}")).status_code == 202


def test_status_queries_filter_and_page(devhost: DevHostProcess, binding: str) -> None:
    run = uuid.uuid4().hex[:6]
    listed, paged = f"l{run}-", f"p{run}-"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=100)

    async def start_all(client: DurableOrchestrationClient) -> None:
        for prefix in (listed, paged):
            for n in range(5):
                await client.start_new("wait_forever", f"{prefix}{n}", None)
        for n in range(5):
            await wait_for(client, f"{listed}{n}", until=lambda s: s.runtime_status is Running)

    run_client(binding, start_all)

    # paging with top + continuation token, on the public webhook
    url = devhost.url("/runtime/webhooks/durabletask/instances")
    seen: list[str] = []
    token = None
    for _ in range(4):
        headers = {"x-ms-continuation-token": token} if token else {}
        page = httpx.get(url, params={"instanceIdPrefix": paged, "top": 2}, headers=headers)
        assert page.status_code == 200
        assert len(page.json()) <= 2
        seen += [item["instanceId"] for item in page.json()]
        token = page.headers["x-ms-continuation-token"]
        if base64.b64decode(token) == b"null":
            break
    assert sorted(seen) == [f"{paged}{n}" for n in range(5)]

    async def query_and_purge(client: DurableOrchestrationClient) -> None:
        by_prefix = await client.get_status_by(instance_id_prefix=listed)
        assert sorted(s.instance_id for s in by_prefix) == [f"{listed}{n}" for n in range(5)]
        running = await client.get_status_by(created_time_from=since, runtime_status=[Running])
        assert {f"{listed}{n}" for n in range(5)} <= {s.instance_id for s in running}
        ids = [f"{prefix}{n}" for prefix in (listed, paged) for n in range(5)]
        for instance_id in ids:
            await client.terminate(instance_id, "done")
        for instance_id in ids:
            await wait_for(client, instance_id)
        purged = await client.purge_instance_history_by(
            created_time_from=since,
            runtime_status=[OrchestrationRuntimeStatus.Terminated],
        )
        assert purged.instances_deleted >= 10
        assert await client.get_status_by(instance_id_prefix=listed) == []

    run_client(binding, query_and_purge)


def test_http_errors_look_like_the_host(devhost: DevHostProcess, binding: str) -> None:
    missing = httpx.get(devhost.url("/api/no-such-route"))
    assert (missing.status_code, missing.content) == (404, b"")
    assert httpx.get(devhost.url("/api/orchestrators/fan_out")).status_code == 404  # POST only
    assert httpx.get(devhost.url("/api/items/12")).json() == {"kind": "id", "id": 12}
    assert httpx.get(devhost.url("/api/boom")).status_code == 500

    async def scenario(client: DurableOrchestrationClient) -> None:
        with pytest.raises(Exception, match="doesn't exist, is disabled, or is not an orch"):
            await client.start_new("no_such_orchestrator", None, None)

    run_client(binding, scenario)


def test_task_hub_rows_use_the_provider_layout(
    devhost: DevHostProcess, binding: str, platform_account: EmulatorAccount, hub_name: str
) -> None:
    async def scenario(client: DurableOrchestrationClient) -> str:
        instance_id = await client.start_new("fan_out", None, {"n": 3})
        await wait_for(client, instance_id)
        return instance_id

    instance_id = run_client(binding, scenario)
    tables = TableServiceClient.from_connection_string(platform_account.connection_string)
    row = tables.get_table_client(f"{hub_name}Instances").get_entity(instance_id, "")
    assert row["RuntimeStatus"] == "Completed"
    assert row["Name"] == "fan_out"
    assert row["Input"] == '"{\\"n\\": 3}"'
    assert row["Output"] == "5"
    assert row["CustomStatus"] == '{"done": 3}'
    assert row["TaskHubName"] == hub_name
    assert row["CreatedTime"] <= row["LastUpdatedTime"] == row["CompletedTime"]
    assert row["ExecutionId"]
    rows = sorted(
        tables.get_table_client(f"{hub_name}History").query_entities(
            "PartitionKey eq @pk", parameters={"pk": instance_id}
        ),
        key=lambda r: r["RowKey"],
    )
    sentinel = rows.pop()
    assert sentinel["RowKey"] == "sentinel" and sentinel["IsCheckpointComplete"] is True
    assert sentinel["ExecutionId"] == row["ExecutionId"]
    assert [r["RowKey"] for r in rows] == [f"{i:016X}" for i in range(len(rows))]
    kinds = [r["EventType"] for r in rows]
    assert kinds[:2] == ["OrchestratorStarted", "ExecutionStarted"]
    assert kinds[-2:] == ["ExecutionCompleted", "OrchestratorCompleted"]
    assert sorted(r["EventId"] for r in rows if r["EventType"] == "TaskScheduled") == [0, 1, 2]
    assert kinds.count("TaskCompleted") == 3
    assert all(isinstance(r["_Timestamp"], dt.datetime) for r in rows)
    completed = next(r for r in rows if r["EventType"] == "ExecutionCompleted")
    assert completed["OrchestrationStatus"] == "Completed" and completed["Result"] == "5"
    assert {r["ExecutionId"] for r in rows} == {row["ExecutionId"]}


def test_start_and_wait_returns_the_output(devhost: DevHostProcess) -> None:
    url = devhost.url("/runtime/webhooks/durabletask/orchestrators/fan_out")
    answer = httpx.post(url, params={"timeout": 20, "pollingInterval": 0.1}, json={"n": 4})
    assert (answer.status_code, answer.json()) == (200, 14)


def test_in_process_call_with_the_hosts_durable_client(
    devhost: DevHostProcess, binding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVHOST_TEST_HUB", "InProcessHub")
    app = InProcessApp(APP_DIR)
    started = app.call(
        "POST", "/api/orchestrators/square_sum", json_body=None, client_binding=binding
    )
    assert started.status == 500  # unknown orchestrator: the SDK raises in the starter
    started = app.call(
        "POST", "/api/orchestrators/fan_out", json_body={"n": 3}, client_binding=binding
    )
    assert started.status == 202
    instance_id = started.json()["id"]

    async def scenario(client: DurableOrchestrationClient) -> DurableOrchestrationStatus:
        return await wait_for(client, instance_id)

    assert run_client(binding, scenario).output == 5


def test_log_has_one_line_per_invocation_and_no_secrets(
    devhost: DevHostProcess, platform_account: EmulatorAccount
) -> None:
    log = devhost.log_text()
    assert re.search(
        r"Executed 'Functions\.item_by_id' \(Succeeded, Id=[0-9a-f-]+, Duration=\d+ms\)", log
    )
    assert re.search(r"Executed 'Functions\.boom' \(Failed, Id=", log)
    assert platform_account.key not in log
    assert "AccountKey" not in log
