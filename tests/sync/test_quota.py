"""Quota charges: never over the limit under concurrency, exactly once per key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from azure.data.tables import TableServiceClient

from devhost.azurite import EmulatorAccount
from shared.sync.quota import USED_FIELD, charge_once


def test_concurrent_charges_never_exceed_the_limit(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    service = TableServiceClient.from_connection_string(platform_account.connection_string)
    table = service.create_table(f"Usage{unique_name}")
    org, month, limit = "org-a", "2026-11", 1000

    def worker(i: int) -> int:
        return charge_once(
            table, org=org, month=month, key=f"run1~b{i}", costs=[5] * 7, limit=limit
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        grants = list(pool.map(worker, range(40)))  # 40 x 35 = 1400 wanted

    assert sum(grants) == limit - limit % 5
    assert table.get_entity(org, month)[USED_FIELD] == sum(grants)
    assert all(g % 5 == 0 for g in grants)
    assert sorted(grants).count(0) >= 40 - (limit // 35) - 1
    # A retried batch gets the same grant back and pays nothing more.
    again = [
        charge_once(table, org=org, month=month, key=f"run1~b{i}", costs=[5] * 7, limit=limit)
        for i in range(40)
    ]
    assert again == grants
    assert table.get_entity(org, month)[USED_FIELD] == sum(grants)


def test_partial_grant_when_little_room_is_left(
    platform_account: EmulatorAccount, unique_name: str
) -> None:
    service = TableServiceClient.from_connection_string(platform_account.connection_string)
    table = service.create_table(f"Usage{unique_name}")
    assert charge_once(table, org="o", month="2026-11", key="k1", costs=[4, 4], limit=10) == 8
    # Whole assets only: 2 rows are left, a 1-row asset fits, a 3-row one does not.
    assert charge_once(table, org="o", month="2026-11", key="k2", costs=[1, 3, 1], limit=10) == 1
    assert charge_once(table, org="o", month="2026-11", key="k3", costs=[5], limit=10) == 0
    assert charge_once(table, org="o", month="2026-12", key="k1", costs=[5], limit=10) == 5
