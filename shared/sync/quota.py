"""Charging synced assets to the organisation's monthly data-row quota, exactly once.

The usage row (``Usage``: PK org, RK ``YYYY-MM``) is updated with ETag optimistic concurrency,
so concurrent batches never push it over the limit. Each charge also writes a ledger row keyed
by the caller's idempotency key in the same partition and the same entity-group transaction:
a retried activity finds its ledger row and gets the same grant back instead of paying twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

__all__ = ["USAGE_TABLE", "USED_FIELD", "charge_once", "current_month"]

_log = logging.getLogger(__name__)

USAGE_TABLE = "Usage"
USED_FIELD = "rowsUsed"


def current_month(now: datetime | None = None) -> str:
    return f"{(now or datetime.now(UTC)):%Y-%m}"


def _fitting_prefix(costs: Sequence[int], room: int) -> int:
    total = 0
    for cost in costs:
        if total + cost > room:
            break
        total += cost
    return total


def _ledger_key(month: str, key: str) -> str:
    return f"{month}~charge~{key}"


def charge_once(
    table: TableClient,
    *,
    org: str,
    month: str,
    key: str,
    costs: Sequence[int],
    limit: int,
    attempts: int = 50,
) -> int:
    """Charge the longest prefix of ``costs`` (data rows per asset, in order) that fits under
    ``limit`` this month, and return the rows granted; idempotent per ``key``. Whole assets
    only: rows that would buy part of an asset are not charged.

    ``key`` may contain only characters valid in a RowKey (no ``/ \\ # ?``).
    """
    wanted = sum(costs)
    if wanted <= 0:
        return 0
    ledger_rk = _ledger_key(month, key)
    for attempt in range(attempts):
        try:
            ledger = table.get_entity(org, ledger_rk)
            return int(ledger["granted"])
        except ResourceNotFoundError:
            pass
        etag: str | None
        try:
            entity = table.get_entity(org, month)
            etag, used = entity.metadata["etag"], int(entity.get(USED_FIELD, 0))
        except ResourceNotFoundError:
            etag, used = None, 0
        granted = _fitting_prefix(costs, limit - used)
        now = datetime.now(UTC)
        ops: list[Any] = []
        new_usage = {
            "PartitionKey": org,
            "RowKey": month,
            USED_FIELD: used + granted,
            "updatedAt": now,
        }
        if etag is None:
            ops.append(("create", new_usage))
        else:
            ops.append(
                (
                    "update",
                    new_usage,
                    {
                        "mode": UpdateMode.MERGE,
                        "etag": etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
        ops.append(
            (
                "create",
                {
                    "PartitionKey": org,
                    "RowKey": ledger_rk,
                    "granted": granted,
                    "wanted": wanted,
                    "chargedAt": now,
                },
            )
        )
        try:
            table.submit_transaction(ops)
            return granted
        except TableTransactionError as exc:
            # 412: someone else charged first; 409: the usage or ledger row appeared meanwhile.
            if exc.status_code not in (409, 412):
                raise
            time.sleep(min(0.2, 0.005 * (attempt + 1)) * random.random())
    raise RuntimeError(f"could not charge usage for {org} {month} after {attempts} attempts")
