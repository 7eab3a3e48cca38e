"""Monthly data-row usage (``Usage`` table, PK org id, RK ``YYYY-MM``, property ``rowsUsed``).

``charge`` grants rows under a limit with ETag optimistic concurrency: read the row, compute the
grant, write it back only if nobody wrote in between (412 → read again); a missing row is
created with ``create_entity`` (409 → someone else created it first → read again). Concurrent
callers therefore never push ``rowsUsed`` past the limit. The sync engine's idempotent ledger
(``shared.sync.quota``) keeps its rows in the same partition and the same ``rowsUsed`` field.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode

from shared.errors import ServiceUnavailableError
from shared.repositories._common import as_int
from shared.repositories.orgs import OrganizationRepository

__all__ = [
    "USAGE_TABLE",
    "USED_FIELD",
    "UsageRepository",
    "UsageSnapshot",
    "UsageWire",
    "month_of",
    "usage_report",
]

USAGE_TABLE = "Usage"
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

    def charge(self, org_id: str, month: str, rows_wanted: int, limit: int) -> int:
        """Grant as many of ``rows_wanted`` as fit under ``limit`` this month and record them;
        returns the rows granted (0 when the quota is used up). Safe under concurrency."""
        if rows_wanted <= 0:
            return 0
        for attempt in range(self._max_attempts):
            try:
                entity = self._table.get_entity(org_id, month)
            except ResourceNotFoundError:
                granted = max(0, min(rows_wanted, limit))
                if granted == 0:
                    return 0
                try:
                    self._table.create_entity(self._row(org_id, month, granted))
                    return granted
                except ResourceExistsError:
                    self._pause(attempt)  # another caller created it first: read it again
                    continue
            used = as_int(entity.get(USED_FIELD))
            granted = max(0, min(rows_wanted, limit - used))
            if granted == 0:
                return 0
            try:
                self._table.update_entity(
                    self._row(org_id, month, used + granted),
                    mode=UpdateMode.MERGE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return granted
            except (ResourceModifiedError, ResourceNotFoundError):
                self._pause(attempt)  # 412: someone charged in between
        raise ServiceUnavailableError(
            "the usage counter is too busy right now; try again",
            code="usage_contention",
            retry_after=5,
        )

    def refund(self, org_id: str, month: str, rows: int) -> None:
        """Give back rows charged for work that was not done (never below zero)."""
        if rows <= 0:
            return
        for attempt in range(self._max_attempts):
            try:
                entity = self._table.get_entity(org_id, month)
            except ResourceNotFoundError:
                return
            used = as_int(entity.get(USED_FIELD))
            try:
                self._table.update_entity(
                    self._row(org_id, month, max(0, used - rows)),
                    mode=UpdateMode.MERGE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except (ResourceModifiedError, ResourceNotFoundError):
                self._pause(attempt)
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
