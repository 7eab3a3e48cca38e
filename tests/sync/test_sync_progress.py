"""Progress that moves: a 2,000-blob sync at the default page and batch sizes, polled every
0.5 s, shows the count of handled blobs rising many times and a percent that never goes back;
a re-sync with nothing to do says so, names the asset total and never claims to inspect."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

import mediagen
from devhost.azurite import Azurite, EmulatorAccount
from devhost.testing import DevHostProcess
from tests.sync.harness import Api, CountingProxy, running_service

BLOBS = 2000

#: The shipped defaults (the other sync tests use small pages and batches).
DEFAULTS = {
    "SYNC_PAGE_SIZE": "5000",
    "SYNC_BATCH_SIZE": "500",
    "SYNC_PAGES_PER_EXECUTION": "2",
    "SYNC_BATCHES_IN_FLIGHT": "4",
    "SYNC_READ_CONCURRENCY": "16",
}


@pytest.fixture(scope="module")
def default_service(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DevHostProcess, Api, CountingProxy]]:
    workspace: Path = tmp_path_factory.mktemp("devhost-progress")
    with running_service(
        azurite,
        platform_account,
        [customer_account],
        workspace,
        hub="SyncProgress",
        extra_env=DEFAULTS,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def big_container(customer_account: EmulatorAccount) -> Iterator[ContainerClient]:
    client = ContainerClient.from_connection_string(
        customer_account.connection_string, "progress-2000"
    )
    client.create_container()
    images = [mediagen.jpeg(160, 120, seed=i) for i in range(50)]

    def put(i: int) -> None:
        client.upload_blob(f"p/{i:05d}.jpg", images[i % len(images)], overwrite=True)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(BLOBS)))
    yield client
    client.delete_container()


def _poll(api: Api, org: str, conn: str, run: str) -> list[dict[str, Any]]:
    views: list[dict[str, Any]] = []
    deadline = time.monotonic() + 600
    while True:
        view = api.progress(org, conn, run)
        views.append(view)
        if view["status"] in ("completed", "failed", "cancelled"):
            return views
        assert time.monotonic() < deadline, views[-1]
        time.sleep(0.5)


def test_progress_moves_and_a_no_change_resync_names_the_total(
    default_service: tuple[DevHostProcess, Api, CountingProxy],
    big_container: ContainerClient,
    unique_name: str,
) -> None:
    _, api, proxy = default_service
    # Tiny blobs on loopback would sync in a few seconds; a link with 200 ms per request makes
    # the run last long enough to watch (the default 2,000-blob wave otherwise ends in ~6 s).
    proxy.latency("blob", "/contosomedia/", 0.2)
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account="contosomedia", container=big_container.container_name)
    started = api.start_sync(org, conn)
    assert started.status_code == 202, started.text

    try:
        views = _poll(api, org, conn, started.json()["runId"])
    finally:
        proxy.restore()

    last = views[-1]
    assert last["status"] == "completed", last["error"]
    assert last["processed"] == last["total"] == BLOBS
    processed = [v["processed"] for v in views]
    percents = [v["percent"] for v in views]
    print(f"first sync: {len(views)} polls, {len(set(processed))} distinct processed values")
    assert len(set(processed)) >= 10, processed
    assert processed == sorted(processed), processed
    assert percents == sorted(percents), percents
    assert all(0 <= p <= 100 for p in percents)
    assert last["summary"] == f"{BLOBS:,} assets, {BLOBS:,} added"
    moving = [v for v in views if 0 < v["processed"] < BLOBS]
    assert moving and all(v["ratePerSecond"] > 0 for v in moving)
    assert all(v["etaSeconds"] is not None and v["etaSeconds"] >= 0 for v in moving)
    assert "inspecting" in last["phases"]

    again = api.start_sync(org, conn)
    assert again.status_code == 202, again.text
    resync = _poll(api, org, conn, again.json()["runId"])

    done = resync[-1]
    assert done["status"] == "completed", done["error"]
    assert done["counts"]["unchanged"] == BLOBS
    assert done["assetCount"] == BLOBS
    assert done["connectionTotals"]["synced"] == BLOBS
    assert done["changed"] == 0
    assert done["summary"] == f"{BLOBS:,} assets, nothing changed"
    assert "inspecting" not in done["phases"]
    assert all(v["status"] != "inspecting" for v in resync)
    resync_percents = [v["percent"] for v in resync]
    assert resync_percents == sorted(resync_percents)


def test_percent_never_goes_back_while_an_unknown_container_is_listed(
    service: tuple[DevHostProcess, Api, CountingProxy],
    container: ContainerClient,
    unique_name: str,
) -> None:
    """No preview and no earlier run: the total grows page by page (pages of 100 here), and
    the bar keeps moving forward instead of jumping back each time a page is listed."""
    _, api, proxy = service
    images = [mediagen.jpeg(48, 32, seed=i) for i in range(20)]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: container.upload_blob(f"u/{i:04d}.jpg", images[i % 20], overwrite=True),
                range(600),
            )
        )
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    proxy.latency("blob", f"/contosomedia/{container.container_name}/u/", 0.05)
    try:
        run = api.start_sync(org, conn).json()["runId"]
        views: list[dict[str, Any]] = []
        deadline = time.monotonic() + 300
        while not views or views[-1]["status"] not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, views[-1]
            views.append(api.progress(org, conn, run))
            time.sleep(0.1)
    finally:
        proxy.restore()

    assert views[-1]["status"] == "completed", views[-1]["error"]
    assert views[-1]["percent"] == 100.0
    estimates = [v for v in views if v["totalIsEstimate"]]
    # The run was watched while its total was still growing ...
    assert len({v["total"] for v in estimates}) >= 2, [v["total"] for v in views]
    percents = [v["percent"] for v in views]
    assert percents == sorted(percents), percents  # ... and the bar never went back
    assert len(set(percents)) >= 5, percents
