"""Start and cancel under concurrent requests: exactly one run per connection, the accepted run
is never marked failed, a refused start names the running run, and nothing is refused when
nothing runs. Tiny containers keep each run short."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from azure.storage.blob import ContainerClient

import mediagen
from devhost.testing import DevHostProcess
from tests.sync.harness import Api, CountingProxy
from tests.sync.test_sync_e2e import (
    connected,
    synced_rows,
    upload,
    wait_for_counts_to_match_rows,
)

FILES = [(f"r/{i}.jpg", mediagen.jpeg(24, 16, seed=i)) for i in range(3)]


def _post_all(base_url: str, posts: list[tuple[str, float]]) -> list[httpx.Response]:
    """POST each path from its own thread and client, released together and then held back
    by its delay (seconds)."""
    clients = [httpx.Client(base_url=base_url, timeout=60) for _ in posts]
    barrier = threading.Barrier(len(posts))
    out: list[httpx.Response | None] = [None] * len(posts)

    def one(k: int) -> None:
        path, delay = posts[k]
        barrier.wait()
        if delay:
            time.sleep(delay)
        out[k] = clients[k].post(path)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(posts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in clients:
        c.close()
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def _start_all(base_url: str, path: str, delays: list[float]) -> list[httpx.Response]:
    return _post_all(base_url, [(path, d) for d in delays])


def _one_accepted(responses: list[httpx.Response]) -> str:
    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code != 202]
    assert len(accepted) == 1, [(r.status_code, r.text[:200]) for r in responses]
    run = str(accepted[0].json()["runId"])
    for r in refused:
        assert r.status_code == 409, r.text
        problem = r.json()
        assert problem["code"] == "sync_already_running", problem
        assert problem["runId"] == run, problem  # names the run that holds the connection
    return run


def _history(api: Api, org: str, conn: str) -> list[dict[str, Any]]:
    r = api.http.get(f"/api/orgs/{org}/connections/{conn}/syncs")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_double_clicks_start_exactly_one_run_each_time(
    service: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    unique_name: str,
) -> None:
    host, api, _ = service
    org, conn = connected(api, container, FILES, unique_name)
    path = f"/api/orgs/{org}/connections/{conn}/syncs"
    accepted: list[str] = []
    for trial in range(20):
        gap = (trial * 0.0025) % 0.05  # 0 to 47.5 ms between the two clicks
        run = _one_accepted(_start_all(host.base_url, path, [0.0, gap]))
        view = api.wait(org, conn, run, timeout=120)
        assert view["status"] == "completed", (trial, view["error"])
        accepted.append(run)

    history = _history(api, org, conn)
    assert sorted(h["runId"] for h in history) == sorted(accepted)  # no run of a refused start
    assert all(h["status"] == "completed" for h in history), history


def test_twenty_simultaneous_starts_start_one_run(
    service: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    unique_name: str,
) -> None:
    host, api, _ = service
    org, conn = connected(api, container, FILES, unique_name)
    path = f"/api/orgs/{org}/connections/{conn}/syncs"
    accepted: list[str] = []
    for _trial in range(3):
        run = _one_accepted(_start_all(host.base_url, path, [0.0] * 20))
        view = api.wait(org, conn, run, timeout=120)
        assert view["status"] == "completed", view["error"]
        assert view["counts"]["synced"] + view["counts"]["unchanged"] == len(FILES)
        accepted.append(run)

    history = _history(api, org, conn)
    assert sorted(h["runId"] for h in history) == sorted(accepted)
    assert all(h["status"] == "completed" for h in history), history


def test_start_right_after_a_cancel_is_accepted(
    api: Api, container: ContainerClient, unique_name: str
) -> None:
    files = [(f"c/{i:03d}.jpg", mediagen.jpeg(64, 48, seed=i)) for i in range(150)]
    org, conn = connected(api, container, files, unique_name)
    first = api.start_sync(org, conn)
    assert first.status_code == 202, first.text
    run = first.json()["runId"]

    cancelled = api.http.post(f"/api/orgs/{org}/connections/{conn}/syncs/{run}/cancel")
    again = api.start_sync(org, conn)

    assert cancelled.status_code in (202, 409), cancelled.text  # 409: it had already finished
    assert again.status_code == 202, again.text  # nothing runs any more: never refused
    second = again.json()["runId"]
    assert api.wait(org, conn, second)["status"] == "completed"
    assert api.progress(org, conn, run)["status"] in ("cancelled", "completed")


def test_cancel_removes_the_runs_staged_data(
    api: Api,
    container: ContainerClient,
    unique_name: str,
    platform_account: Any,
) -> None:
    files = [(f"s/{i:03d}.jpg", mediagen.jpeg(64, 48, seed=i)) for i in range(240)]
    upload(container, files)
    org, conn = connected(api, container, [], unique_name)
    run = api.start_sync(org, conn).json()["runId"]
    staging = ContainerClient.from_connection_string(
        platform_account.connection_string, "sync-staging"
    )
    deadline = time.monotonic() + 60
    while not any(True for _ in staging.list_blob_names(name_starts_with=f"{run}/")):
        assert time.monotonic() < deadline, "the run staged nothing"
        time.sleep(0.05)
    assert api.progress(org, conn, run)["status"] not in ("completed", "failed")

    r = api.http.post(f"/api/orgs/{org}/connections/{conn}/syncs/{run}/cancel")

    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelled"
    # Customer blob names were staged for this run: nothing of it stays behind.
    deadline = time.monotonic() + 10
    while (left := list(staging.list_blob_names(name_starts_with=f"{run}/"))) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert left == []


def test_a_start_racing_a_cancel_never_fails_either_run(
    service: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    unique_name: str,
) -> None:
    host, api, _ = service
    files = [(f"x/{i:03d}.jpg", mediagen.jpeg(64, 48, seed=i)) for i in range(60)]
    org, conn = connected(api, container, files, unique_name)
    base = f"/api/orgs/{org}/connections/{conn}/syncs"
    for _trial in range(5):
        first = api.start_sync(org, conn)
        assert first.status_code == 202, first.text
        run = first.json()["runId"]
        cancel, started = _post_all(host.base_url, [(f"{base}/{run}/cancel", 0.0), (base, 0.01)])

        assert cancel.status_code in (202, 409), cancel.text
        assert api.wait(org, conn, run)["status"] in ("cancelled", "completed")
        if started.status_code == 409:  # the cancelled run was still stopping
            assert started.json()["runId"] == run, started.text
            started = api.start_sync(org, conn)
        assert started.status_code == 202, started.text
        assert api.wait(org, conn, started.json()["runId"])["status"] == "completed"

    history = _history(api, org, conn)
    assert all(h["status"] in ("cancelled", "completed") for h in history), history


def test_rows_an_inspection_writes_after_a_cancel_still_reach_the_counts(
    service: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    unique_name: str,
) -> None:
    """A cancel stops the orchestration, not an inspection already reading blobs: when its
    rows land after the cancel's recount, the Connection Manager still counts them."""
    _, api, proxy = service
    files = [(f"late/{i:03d}.jpg", mediagen.jpeg(64, 48, seed=i)) for i in range(12)]
    org, conn = connected(api, container, files, unique_name)
    prefix = f"/{container.account_name}/{container.container_name}"
    proxy.clear()
    proxy.latency("blob", prefix + "/late/", 3.0)  # blob reads, not the listing
    try:
        run = api.start_sync(org, conn).json()["runId"]
        deadline = time.monotonic() + 60
        while not any(
            r.method == "GET" and r.path.startswith(prefix + "/late/") for r in proxy.snapshot()
        ):
            assert time.monotonic() < deadline, "no blob was read"
            time.sleep(0.02)
        cancelled = api.http.post(f"/api/orgs/{org}/connections/{conn}/syncs/{run}/cancel")
        assert cancelled.status_code == 202, cancelled.text
    finally:
        proxy.restore()

    # The reads in flight end about 3 s after the cancel; their rows are then written.
    deadline = time.monotonic() + 30
    while synced_rows(api, org, conn) == 0:
        assert time.monotonic() < deadline, "the inspection in flight wrote nothing"
        time.sleep(0.2)
    time.sleep(1.0)  # its last rows and its recount
    assert wait_for_counts_to_match_rows(api, org, conn, within=15) > 0
