"""Inspection reads through a loopback proxy that stalls, refuses and resets: a read that stalls
is given up on and tried again long before the stall ends, the bytes are right, and listing
keeps its longer timeout."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from bench.faults import FaultPlan, FaultProxy
from devhost.azurite import Azurite, EmulatorAccount
from shared.customer_storage import CustomerStorage, RetryProfile, retry_policy
from shared.customer_storage._pipeline import timeouts
from shared.inspection.blob_reader import BlobRangeReader
from shared.settings import Settings
from tests.api.conftest import SAMPLE, MakeContainer, emulator_env

STALL = 4.0


@pytest.fixture
def proxy(azurite: Azurite) -> Iterator[FaultProxy]:
    proxy = FaultProxy(f"http://127.0.0.1:{azurite.blob_port}", FaultPlan(stall_seconds=STALL))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def storage(
    proxy: FaultProxy, customer_account: EmulatorAccount, other_customer_account: EmulatorAccount
) -> CustomerStorage:
    env = {**SAMPLE, **emulator_env(customer_account, other_customer_account)}
    env["EMULATOR_BLOB_ENDPOINT"] = proxy.url
    return CustomerStorage(Settings.from_env(env))


def test_reads_are_cut_short_and_retried_listing_waits(
    proxy: FaultProxy, storage: CustomerStorage, make_container: MakeContainer
) -> None:
    data = bytes(range(256)) * 64
    container = make_container({"img/a.jpg": data})
    assert timeouts(RetryProfile.READS)["read_timeout"] < STALL
    assert timeouts(RetryProfile.BACKGROUND)["read_timeout"] > STALL

    async def scenario() -> tuple[bytes, int, list[str]]:
        async with storage.container_client(
            "contosomedia", container, profile=RetryProfile.READS
        ) as client:
            reader = BlobRangeReader(client, "img/a.jpg", len(data))
            proxy.force("stall", "busy", "reset")
            head = await reader.read(100, 12 * 1024)
        async with storage.container_client("contosomedia", container) as client:
            proxy.force("stall")
            names = [b.name async for b in client.list_blobs()]
        return head, reader.requests, names

    head, requests, names = asyncio.run(scenario())
    assert head == data[100 : 100 + 12 * 1024]
    assert requests == 1  # one read for the caller; the SDK retried it underneath
    # The stalled read was abandoned: a stall, a 503 and a reset, then the answer (4 requests),
    # and the listing that stalled was waited for, not repeated (1 request).
    assert proxy.counts["requests"] == 5
    assert proxy.counts["stall"] == 2 and proxy.counts["busy"] == 1 and proxy.counts["reset"] == 1
    assert names == ["img/a.jpg"]


def test_read_retries_wait_fractions_of_a_second() -> None:
    reads = retry_policy(RetryProfile.READS)
    waits = [reads.get_backoff_time({"count": n}) for n in range(4)]
    assert reads.total_retries == 4
    assert waits[0] <= 0.4 and waits[-1] <= 2.5
    assert all(a < b for a, b in itertools.pairwise(waits))
