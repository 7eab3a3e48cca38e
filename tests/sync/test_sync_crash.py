"""A crash of the host mid-sync: kill -9, restart, and the run completes with nothing lost or
charged twice."""

from __future__ import annotations

import time
from typing import Any

from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess
from tests.sync.harness import Api, CountingProxy
from tests.sync.test_sync_e2e import (
    ROWS_PER_ASSET,
    connected,
    expected_outcomes,
    rows_by_name,
    usage_rows,
)


def assert_recovered(
    api: Api,
    org: str,
    conn: str,
    run: str,
    files: list[tuple[str, bytes]],
    platform_account: EmulatorAccount,
) -> dict[str, Any]:
    """After the restart the run completes with one row per blob, each asset charged once, and
    the connection is free and consistent: the next sync finds nothing to do."""
    view = api.wait(org, conn, run)
    assert view["status"] == "completed", view["error"]
    expected = expected_outcomes(files)
    assert rows_by_name(api, org, conn) == expected  # nothing lost, one row per blob
    synced = sum(1 for s, _, _ in expected.values() if s == "synced")
    assert usage_rows(platform_account, org) == synced * ROWS_PER_ASSET  # charged once each
    assert view["counts"]["synced"] + view["counts"]["unchanged"] >= synced
    again = api.sync(org, conn)
    assert again["counts"]["unchanged"] == len(files)
    return view


def test_kill_minus_nine_mid_sync_then_restart_completes(
    service: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    unique_name: str,
    platform_account: EmulatorAccount,
) -> None:
    host, api, _ = service
    files = mediagen.mixed_set(
        240, seed=11, image_size=(256, 192), video_size=(64, 48), video_seconds=0.4
    )
    org, conn = connected(api, container, files, unique_name)
    run = api.start_sync(org, conn).json()["runId"]
    deadline = time.monotonic() + 60
    while api.progress(org, conn, run)["processed"] < 60:
        assert time.monotonic() < deadline, "no progress before the crash"
        time.sleep(0.05)
    assert api.progress(org, conn, run)["status"] != "completed", "finished before the crash"

    host.kill()
    host.restart()

    assert_recovered(api, org, conn, run, files, platform_account)


def test_kill_minus_nine_right_after_the_start_then_restart_completes(
    service: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    unique_name: str,
    platform_account: EmulatorAccount,
) -> None:
    """The host dies while the run is queued or listing (snapshot, first page)."""
    host, api, _ = service
    files = mediagen.mixed_set(
        120, seed=13, image_size=(256, 192), video_size=(64, 48), video_seconds=0.4
    )
    org, conn = connected(api, container, files, unique_name)
    started = api.start_sync(org, conn)
    assert started.status_code == 202, started.text
    run = started.json()["runId"]

    host.kill()
    host.restart()

    assert_recovered(api, org, conn, run, files, platform_account)
