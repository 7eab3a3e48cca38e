"""Apps the Python worker refuses are refused at load by the dev host too (not at run time)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from devhost.__main__ import EXIT_LOAD_ERROR
from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess

from .conftest import new_hub_name

pytestmark = pytest.mark.slow  # starts dev host subprocesses
HOST_JSON = {"version": "2.0", "extensions": {"durableTask": {"hubName": "%HUB%"}}}

GOOD_APP = """
    import azure.durable_functions as df
    import azure.functions as func

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="start", methods=["POST"])
    @app.durable_client_input(client_name="client")
    async def start(req: func.HttpRequest, client) -> func.HttpResponse:
        instance_id = await client.start_new("orchestrator")
        return client.create_check_status_response(req, instance_id)

    @app.orchestration_trigger(context_name="context")
    def orchestrator(context):
        return (yield context.call_activity("hello", "x"))

    @app.activity_trigger(input_name="name")
    def hello(name: str) -> str:
        return f"hello {name}"
"""

BROKEN_APPS = {
    "sync_client": (
        GOOD_APP.replace(
            "    async def start(req: func.HttpRequest, client) -> func.HttpResponse:\n"
            '        instance_id = await client.start_new("orchestrator")',
            "    def start(req: func.HttpRequest, client) -> func.HttpResponse:\n"
            '        instance_id = "not-started"',
        ),
        "a function with durable_client_input must be 'async def'",
    ),
    "orchestrator_parameter_not_context": (
        GOOD_APP.replace(
            '@app.orchestration_trigger(context_name="context")\n    def orchestrator(context):\n'
            '        return (yield context.call_activity("hello", "x"))',
            '@app.orchestration_trigger(context_name="ctx")\n    def orchestrator(ctx):\n'
            '        return (yield ctx.call_activity("hello", "x"))',
        ),
        "trigger parameter must be named 'context'",
    ),
    "two_function_registers": (
        GOOD_APP + "\n    other = func.FunctionApp()\n",
        "More than one",
    ),
}


def write_app(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "function_app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    (folder / "host.json").write_text(json.dumps(HOST_JSON), encoding="utf-8")
    return folder


def test_the_well_formed_app_loads(tmp_path: Path, platform_account: EmulatorAccount) -> None:
    app = write_app(tmp_path / "good", GOOD_APP)
    env = {"AzureWebJobsStorage": platform_account.connection_string, "HUB": new_hub_name()}
    host = DevHostProcess(app, env=env)
    try:
        host.start()
        assert host.running
        assert "orchestrator: orchestrationTrigger" in host.log_text()
        assert host.stop() == 0  # SIGTERM: a graceful stop
        assert "Stopping the dev host" in host.log_text()
    finally:
        host.close()


@pytest.mark.parametrize("case", sorted(BROKEN_APPS))
def test_broken_app_is_refused_at_load(
    case: str, tmp_path: Path, platform_account: EmulatorAccount
) -> None:
    source, message = BROKEN_APPS[case]
    assert source != GOOD_APP, "the mutation must apply"
    app = write_app(tmp_path / case, source)
    env = {"AzureWebJobsStorage": platform_account.connection_string, "HUB": new_hub_name()}
    host = DevHostProcess(app, env=env).launch()
    try:
        assert host.wait_exit(timeout=60) == EXIT_LOAD_ERROR
        log = host.log_text()
    finally:
        host.close()
    assert "The function app cannot be loaded" in log
    assert message in log
