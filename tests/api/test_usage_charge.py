"""UsageRepository.charge: concurrent callers never exceed the monthly limit, only whole assets
are charged, and a retried charge is not paid twice."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.data.tables import TableClient, TableServiceClient

from devhost.azurite import EmulatorAccount
from shared.store.usage import USED_FIELD, UsageRepository


@pytest.fixture(scope="module")
def usage_table(platform_account: EmulatorAccount) -> TableClient:
    service = TableServiceClient.from_connection_string(platform_account.connection_string)
    return service.create_table_if_not_exists("Usage")


def used(table: TableClient, org: str, month: str) -> int:
    stored = table.get_entity(org, month)[USED_FIELD]
    return int(getattr(stored, "value", stored))


def test_concurrent_charges_never_exceed_the_limit(usage_table: TableClient) -> None:
    org, month, limit = "org-" + uuid.uuid4().hex[:8], "2026-01", 1003
    threads, charges = 12, 10  # 120 batches of 3 assets x 5 rows = 1,800 rows wanted
    start = threading.Barrier(threads)

    def worker(t: int) -> list[int]:
        repo = UsageRepository(usage_table)
        start.wait()  # all race for the row that does not exist yet (409 path)
        return [
            repo.charge(org, month, key=f"run~{t}~{c}", costs=[5, 5, 5], limit=limit)
            for c in range(charges)
        ]

    with ThreadPoolExecutor(threads) as pool:
        grants = [g for result in pool.map(worker, range(threads)) for g in result]

    assert sum(grants) == 1000  # 200 whole assets; the 3 rows left buy nothing
    assert all(g % 5 == 0 and 0 <= g <= 15 for g in grants)
    assert used(usage_table, org, month) == 1000
    assert UsageRepository(usage_table).used(org, month) == 1000
    # Retried batches get their grant back and pay nothing more.
    repo = UsageRepository(usage_table)
    again = [
        repo.charge(org, month, key=f"run~{t}~{c}", costs=[5, 5, 5], limit=limit)
        for t in range(threads)
        for c in range(charges)
    ]
    assert again == grants
    assert used(usage_table, org, month) == 1000


def test_whole_assets_only_and_per_month(usage_table: TableClient) -> None:
    repo = UsageRepository(usage_table)
    org = "org-" + uuid.uuid4().hex[:8]
    assert repo.charge(org, "2026-02", key="a", costs=[], limit=100) == 0
    assert repo.used(org, "2026-02") == 0
    assert repo.charge(org, "2026-02", key="b", costs=[45, 45], limit=100) == 90
    # 10 rows left: the first asset (5) fits, the second (8) does not, so the third is not tried.
    assert repo.charge(org, "2026-02", key="c", costs=[5, 8, 1], limit=100) == 5
    assert repo.charge(org, "2026-02", key="d", costs=[6], limit=100) == 0
    assert repo.charge(org, "2026-02", key="e", costs=[6], limit=150) == 6  # a raised limit
    assert repo.used(org, "2026-02") == 101
    assert repo.charge(org, "2026-03", key="b", costs=[10], limit=100) == 10  # another month
    assert repo.charge(org, "2026-04", key="z", costs=[10], limit=0) == 0  # a zero quota
