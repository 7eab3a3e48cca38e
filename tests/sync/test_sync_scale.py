"""History stays bounded whatever the container's size: each execution handles a few pages and
continues as new."""

from __future__ import annotations

import asyncio

from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

import mediagen
from devhost.azurite import EmulatorAccount
from devhost.testing import DevHostProcess
from tests.sync.harness import Api, CountingProxy
from tests.sync.test_sync_e2e import new_org

PAGE = 100  # SYNC_PAGE_SIZE in the harness
PAGES_PER_EXECUTION = 2
BATCH = 40  # SYNC_BATCH_SIZE in the harness
WIDTH = 8  # SYNC_LIST_WIDTH (the default): folders listed at once, one page each


async def fill(connection_string: str, container: str, count: int) -> None:
    tiny = [mediagen.png(8 + i % 5, 8, seed=i) for i in range(16)]
    async with AsyncContainerClient.from_connection_string(connection_string, container) as cc:
        await cc.create_container()
        gate = asyncio.Semaphore(48)

        async def put(i: int) -> None:
            async with gate:
                await cc.upload_blob(f"shard-{i % 7}/frame_{i:05d}.png", tiny[i % 16])

        await asyncio.gather(*(put(i) for i in range(count)))


def test_history_per_execution_does_not_grow_with_the_container(
    service: tuple[DevHostProcess, Api, CountingProxy],
    customer_account: EmulatorAccount,
    unique_name: str,
) -> None:
    host, api, _ = service
    org = new_org(api, unique_name)
    largest = []
    for size in (300, 1500):
        name = f"{unique_name}-{size}"
        asyncio.run(fill(customer_account.connection_string, name, size))
        conn = api.connect(org, account="contosomedia", container=name, name=name)
        view = api.sync(org, conn)
        assert view["status"] == "completed"
        assert view["counts"]["synced"] == size
        largest.append(host.status()["maxHistoryEvents"])
    # The 7 folders are listed at once, a page of each per step. An execution handles steps
    # until it has read 2 pages, so it holds at most 1 + WIDTH pages' tasks (the first listing,
    # per page its inspection batches and the next listing, the finish), two events each, plus
    # two per orchestrator episode (at most one per completion): the bound depends on pages
    # per execution and the width, never on the container.
    tasks = 2 + (PAGES_PER_EXECUTION - 1 + WIDTH) * (-(-PAGE // BATCH) + 1)
    bound = 4 * tasks + 8
    assert 0 < largest[0] <= bound
    assert largest[1] <= bound
    print(
        f"largest history per execution: {largest} events for 300 and 1,500 blobs (bound {bound})"
    )
