"""Exit codes and messages for what the real app cannot be made to do on demand: the service
unreachable, a 500 with a correlation id, a run that ends failed, a status poll that fails once,
Ctrl-C while following a run. A scripted loopback server stands in for the function app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from blobsync_cli.cli import cli
from blobsync_cli.client import BlobSyncClient
from blobsync_cli.errors import ClientError, ExitCode
from devhost.azurite import PROJECT_ROOT, free_port
from tests.cli.conftest import Invoke, Reply, StubApp, json_reply

ORG, CONN, RUN = "acme", "abcdefgh12345678", "20261124T151208Z-f339"
RUNS = f"/api/orgs/{ORG}/connections/{CONN}/syncs"
KEY = "k3y-that-must-never-be-printed"


def progress(status: str, processed: int, total: int, **extra: object) -> Reply:
    view = {
        "runId": RUN,
        "connectionId": CONN,
        "connectionName": "Field media",
        "status": status,
        "account": "contosomedia",
        "container": "media",
        "prefix": "",
        "processed": processed,
        "total": total,
        "totalIsEstimate": False,
        "percent": 100.0 * processed / total if total else 0.0,
        "counts": {"synced": processed, "skipped": 0, "ignored": 0, "skippedByReason": {}},
        "startedAt": "2026-11-24T15:12:08+00:00",
        "updatedAt": "2026-11-24T15:12:09+00:00",
        "finishedAt": None,
        "error": None,
        **extra,
    }
    return json_reply(200, view)


def started() -> Reply:
    return json_reply(202, {"runId": RUN, "status": "queued", "statusUrl": "x"})


def test_an_unreachable_service_exits_3(blobsync_bare: Invoke) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = blobsync_bare("--base-url", url, "list", ORG)

    assert result.exit_code == 3
    assert "Cannot reach the service" in result.stderr and url in result.stderr


def test_usage_errors_exit_2(blobsync_bare: Invoke) -> None:
    result = blobsync_bare("sync", ORG)
    assert result.exit_code == 2
    assert "Missing argument 'CONN'" in result.stderr


def test_a_server_error_exits_5_with_its_correlation_id(
    blobsync_bare: Invoke, stub: StubApp
) -> None:
    problem = {
        "type": "urn:blobsync:problem:internal_error",
        "title": "Internal server error",
        "status": 500,
        "detail": "The request failed unexpectedly. Quote the correlation id when reporting it.",
        "code": "internal_error",
        "correlationId": "5f0c4d0e9a7b4c1f8e2d3a4b5c6d7e8f",
    }
    stub.routes[f"GET /api/orgs/{ORG}/connections"] = json_reply(
        500, problem, "application/problem+json"
    )

    result = blobsync_bare("--base-url", stub.base_url, "--function-key", KEY, "list", ORG)

    assert result.exit_code == 5
    assert "Error 500: Internal server error (internal_error)" in result.stderr
    assert "correlation id: 5f0c4d0e9a7b4c1f8e2d3a4b5c6d7e8f" in result.stderr
    # The key went in the header only, and is printed nowhere.
    _, path, headers = stub.requests[-1]
    assert headers.get("x-functions-key") == KEY and KEY not in path
    assert KEY not in result.output


def test_a_bare_gateway_error_still_exits_5(blobsync_bare: Invoke, stub: StubApp) -> None:
    stub.routes[f"GET /api/orgs/{ORG}/usage"] = (502, {"Content-Type": "text/html"}, b"<h1>Bad")
    result = blobsync_bare("--base-url", stub.base_url, "org", "usage", ORG)
    assert result.exit_code == 5
    assert "Error 502" in result.stderr


def test_help_never_shows_a_key_from_the_environment() -> None:
    env = {"BLOBSYNC_FUNCTION_KEY": KEY, "BLOBSYNC_ADMIN_KEY": KEY + "-admin", "COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["--help"], env=env, prog_name="blobsync")

    assert result.exit_code == 0
    assert "BLOBSYNC_FUNCTION_KEY" in result.stdout and "BLOBSYNC_ADMIN_KEY" in result.stdout
    assert KEY not in result.output
    assert "Exit codes:" in result.stdout and "130" in result.stdout


def test_a_run_that_ends_failed_exits_4(blobsync_bare: Invoke, stub: StubApp) -> None:
    stub.routes[f"POST {RUNS}"] = started()
    views = iter(
        [
            progress("inspecting", 10, 50),
            progress(
                "failed", 20, 50, error={"code": "sync_failed", "message": "listing kept failing"}
            ),
        ]
    )
    stub.routes[f"GET {RUNS}/{RUN}"] = lambda: next(views)

    result = blobsync_bare("--base-url", stub.base_url, "sync", ORG, CONN, "--interval", "0.1")

    assert result.exit_code == 4, result.output
    assert "Error sync_failed: listing kept failing" in result.stdout


def test_following_survives_a_failed_poll(blobsync_bare: Invoke, stub: StubApp) -> None:
    stub.routes[f"POST {RUNS}"] = started()
    problem = json_reply(
        503, {"title": "Unavailable", "status": 503, "detail": "busy", "code": "storage_busy"}
    )
    views = iter([progress("inspecting", 10, 50), problem, progress("completed", 50, 50)])
    stub.routes[f"GET {RUNS}/{RUN}"] = lambda: next(views)

    result = blobsync_bare("--base-url", stub.base_url, "sync", ORG, CONN, "--interval", "0.1")

    assert result.exit_code == 0, result.output
    assert "completed   50/50  100.0%" in result.stdout


def test_sync_while_one_runs_exits_1_and_tells_how_to_attach(
    blobsync_bare: Invoke, stub: StubApp
) -> None:
    stub.routes[f"POST {RUNS}"] = json_reply(
        409,
        {
            "title": "Conflict with the current state",
            "status": 409,
            "detail": f"sync run {RUN} of this connection is still running",
            "code": "sync_already_running",
            "runId": RUN,
        },
        "application/problem+json",
    )
    result = blobsync_bare("--base-url", stub.base_url, "sync", ORG, CONN)

    assert result.exit_code == 1
    assert "(sync_already_running)" in result.stderr
    assert f"status {ORG} {CONN} {RUN} --follow" in result.stderr


def test_ctrl_c_stops_following_and_prints_the_command_to_reattach(stub: StubApp) -> None:
    stub.routes[f"POST {RUNS}"] = started()
    stub.routes[f"GET {RUNS}/{RUN}"] = progress("inspecting", 10, 50)  # never ends
    env = {**os.environ, "BLOBSYNC_FUNCTION_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "blobsync_cli", "--base-url", stub.base_url]
    # As from a terminal: a test run started in the background (``cmd &``) has SIGINT ignored,
    # a child would inherit that, and Python then never turns Ctrl-C into KeyboardInterrupt.
    # A handler of this process's own is reset to the default in the child.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [*command, "sync", ORG, CONN, "--interval", "0.1"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"Following run {RUN}"), first
        deadline = time.monotonic() + 10
        while sum(1 for r in stub.requests if r[0] == "GET") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130, (out, err)
    assert f"Run {RUN} goes on in the background" in err
    reattach = (
        f"python -m blobsync_cli --base-url {stub.base_url} status {ORG} {CONN} {RUN} --follow"
    )
    assert reattach in err
    assert KEY not in out + err
    # Following never cancelled the run.
    assert not any(path.endswith("/cancel") for _, path, _ in stub.requests)


def test_the_client_raises_the_problem_it_was_given(stub: StubApp) -> None:
    stub.routes[f"GET /api/orgs/{ORG}/connections/{CONN}"] = json_reply(
        404,
        {
            "title": "Not found",
            "status": 404,
            "detail": "no such connection",
            "code": "connection_not_found",
        },
        "application/problem+json",
    )
    # A base URL ending in /api names the same app.
    with BlobSyncClient(stub.base_url + "/api/") as client, pytest.raises(ClientError) as caught:
        client.get_connection(ORG, CONN)

    assert caught.value.status == 404 and caught.value.code == "connection_not_found"
    assert caught.value.detail == "no such connection"
    assert caught.value.exit_code == ExitCode.REFUSED
    assert stub.requests[-1][1] == f"/api/orgs/{ORG}/connections/{CONN}"


def test_cancel_without_a_run_id_stops_the_running_one(
    blobsync_bare: Invoke, stub: StubApp
) -> None:
    stub.routes[f"GET /api/orgs/{ORG}/connections/{CONN}"] = json_reply(
        200, {"id": CONN, "status": "syncing", "activeRunId": RUN}
    )
    stub.routes[f"POST {RUNS}/{RUN}/cancel"] = json_reply(
        202, {"runId": RUN, "status": "cancelled", "counts": {}, "error": None}
    )

    result = blobsync_bare("--base-url", stub.base_url, "cancel", ORG, CONN)

    assert result.exit_code == 0, result.output
    assert f"Run {RUN}: cancelled." in result.stdout
    assert ("POST", f"{RUNS}/{RUN}/cancel") in [(m, p) for m, p, _ in stub.requests]


def test_the_progress_bar_follows_the_services_percent_as_the_total_grows(stub: StubApp) -> None:
    """On a terminal the bar shows the service's percent (which never goes back), while the
    count column shows the files handled of a total that grows as the container is listed."""
    import io

    from rich.console import Console

    from blobsync_cli.follow import follow_run

    views = iter(
        [
            progress("inspecting", 100, 100, totalIsEstimate=True, percent=50.0),
            progress("inspecting", 150, 300, totalIsEstimate=True, percent=62.0, ratePerSecond=75),
            progress("completed", 300, 300, percent=100.0),
        ]
    )
    stub.routes[f"GET {RUNS}/{RUN}"] = lambda: next(views)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    with BlobSyncClient(stub.base_url) as client:
        first = client.get_sync(ORG, CONN, RUN)
        # follow_run starts from the view it is given, then polls the rest.
        stub.routes[f"GET {RUNS}/{RUN}"] = lambda: next(views)
        result = follow_run(
            # 0.3 s between polls: the bar (8 refreshes a second) draws every state.
            client,
            ORG,
            CONN,
            RUN,
            console=console,
            interval=0.3,
            live=True,
            sleep=time.sleep,
        )
    assert first["percent"] == 50.0
    assert result.status == "completed"
    screen = out.getvalue()
    assert "150/~300" in screen and "62%" in screen and "75 files/s" in screen
    assert "300/300" in screen and "100%" in screen
