"""UsageRepository.charge: concurrent callers never exceed the monthly limit."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.data.tables import TableServiceClient

from devhost.azurite import EmulatorAccount
from shared.repositories.usage import USED_FIELD, UsageRepository


@pytest.fixture(scope="module")
def usage_table(platform_account: EmulatorAccount):  # type: ignore[no-untyped-def]
    service = TableServiceClient.from_connection_string(platform_account.connection_string)
    table = service.create_table_if_not_exists("Usage")
    return table


def test_concurrent_charges_never_exceed_the_limit(usage_table) -> None:  # type: ignore[no-untyped-def]
    org, month, limit = "org-" + uuid.uuid4().hex[:8], "2026-01", 1000
    threads, charges, wanted = 12, 10, 13  # 1,560 rows wanted against 1,000
    start = threading.Barrier(threads)

    def worker() -> list[int]:
        repo = UsageRepository(usage_table)
        start.wait()  # all race for the row that does not exist yet (409 path)
        return [repo.charge(org, month, wanted, limit) for _ in range(charges)]

    with ThreadPoolExecutor(threads) as pool:
        grants = [g for result in pool.map(lambda _: worker(), range(threads)) for g in result]

    assert sum(grants) == limit
    assert all(0 <= g <= wanted for g in grants)
    stored = usage_table.get_entity(org, month)[USED_FIELD]
    assert int(getattr(stored, "value", stored)) == limit
    assert UsageRepository(usage_table).used(org, month) == limit


def test_partial_and_empty_grants(usage_table) -> None:  # type: ignore[no-untyped-def]
    repo = UsageRepository(usage_table)
    org, month = "org-" + uuid.uuid4().hex[:8], "2026-02"
    assert repo.charge(org, month, 0, 100) == 0
    assert repo.used(org, month) == 0
    assert repo.charge(org, month, 90, 100) == 90
    assert repo.charge(org, month, 25, 100) == 10
    assert repo.charge(org, month, 5, 100) == 0
    assert repo.charge(org, month, 5, 150) == 5  # a raised limit makes room again
    assert repo.used(org, month) == 105
    repo.refund(org, month, 200)
    assert repo.used(org, month) == 0
    assert repo.charge(org, "2026-03", 10, 0) == 0  # a zero quota grants nothing
