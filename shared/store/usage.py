"""Monthly data-row usage (``Usage`` table, PK org id, RK ``YYYY-MM``, property ``rowsUsed``).

``charge`` grants whole assets under a limit with ETag optimistic concurrency: read the row,
compute the grant, write it back only if nobody wrote in between (412 → read again; a missing
row is created, 409 → read again), so concurrent callers never push ``rowsUsed`` past the
limit. Each charge also writes a ledger row (RK ``YYYY-MM~charge~<key>``) in the same
entity-group transaction: a retried activity finds its ledger row and is not charged twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableTransactionError,
    UpdateMode,
)

from shared.errors import ServiceUnavailableError
from shared.store._common import as_int
from shared.store.orgs import OrganizationRepository

__all__ = [
    "USED_FIELD",
    "UsageRepository",
    "UsageSnapshot",
    "UsageWire",
    "month_of",
    "usage_report",
]

USED_FIELD = "rowsUsed"


def month_of(now: datetime | None = None) -> str:
    """The quota month of an instant: UTC ``YYYY-MM``."""
    return f"{(now or datetime.now(UTC)).astimezone(UTC):%Y-%m}"


@dataclass(frozen=True)
class UsageSnapshot:
    org_id: str
    month: str
    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class UsageWire(TypedDict):
    org: str
    month: str
    plan: str
    used: int
    limit: int
    remaining: int


class UsageRepository:
    def __init__(self, table: TableClient, *, max_attempts: int = 100) -> None:
        self._table = table
        self._max_attempts = max_attempts

    def used(self, org_id: str, month: str) -> int:
        try:
            entity = self._table.get_entity(org_id, month, select=[USED_FIELD])
        except ResourceNotFoundError:
            return 0
        return as_int(entity.get(USED_FIELD))

    def charge(self, org_id: str, month: str, *, key: str, costs: Sequence[int], limit: int) -> int:
        """Charge the longest prefix of ``costs`` (data rows per asset, in order) that fits
        under ``limit`` this month; return the rows granted. Whole assets only: rows that would
        buy part of an asset are not charged. Idempotent per ``key``: a retried caller gets the
        same grant back and pays nothing more. ``key`` must be valid in a RowKey.
        """
        if sum(costs) <= 0:
            return 0
        ledger_key = f"{month}~charge~{key}"
        for attempt in range(self._max_attempts):
            try:
                return as_int(self._table.get_entity(org_id, ledger_key)["granted"])
            except ResourceNotFoundError:
                pass
            etag: str | None
            try:
                entity = self._table.get_entity(org_id, month)
                etag, used = entity.metadata["etag"], as_int(entity.get(USED_FIELD))
            except ResourceNotFoundError:
                etag, used = None, 0
            granted = _fitting_prefix(costs, limit - used)
            row = self._row(org_id, month, used + granted)
            usage_op: tuple[Any, ...] = (
                ("create", row)
                if etag is None
                else (
                    "update",
                    row,
                    {
                        "mode": UpdateMode.MERGE,
                        "etag": etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
            ledger = {
                "PartitionKey": org_id,
                "RowKey": ledger_key,
                "granted": EntityProperty(granted, EdmType.INT64),
                "wanted": EntityProperty(sum(costs), EdmType.INT64),
                "chargedAt": datetime.now(UTC),
            }
            try:
                # One entity-group transaction: the counter and the ledger row move together.
                self._table.submit_transaction([usage_op, ("create", ledger)])
                return granted
            except TableTransactionError as exc:
                if exc.status_code not in (409, 412):
                    raise
                self._pause(attempt)  # someone charged or created the row in between
        raise ServiceUnavailableError(
            "the usage counter is too busy right now; try again",
            code="usage_contention",
            retry_after=5,
        )

    @staticmethod
    def _row(org_id: str, month: str, used: int) -> dict[str, Any]:
        return {
            "PartitionKey": org_id,
            "RowKey": month,
            USED_FIELD: EntityProperty(used, EdmType.INT64),
            "updatedAt": datetime.now(UTC),
        }

    @staticmethod
    def _pause(attempt: int) -> None:
        time.sleep(random.uniform(0, min(0.2, 0.005 * (attempt + 1))))


def _fitting_prefix(costs: Sequence[int], room: int) -> int:
    total = 0
    for cost in costs:
        if total + cost > room:
            break
        total += cost
    return total


def usage_report(
    org_id: str,
    *,
    orgs: OrganizationRepository,
    usage: UsageRepository,
    now: datetime | None = None,
) -> UsageWire:
    """``GET /orgs/{org}/usage``: rows used and the limit for the current month."""
    org = orgs.require(org_id)
    month = month_of(now)
    snapshot = UsageSnapshot(org.org_id, month, usage.used(org.org_id, month), org.monthly_quota)
    return UsageWire(
        org=org.org_id,
        month=month,
        plan=org.plan.value,
        used=snapshot.used,
        limit=snapshot.limit,
        remaining=snapshot.remaining,
    )
