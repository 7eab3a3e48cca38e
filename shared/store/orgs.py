"""Organisations (``Organizations`` table, PK org id, RK ``org``): plan and monthly quota."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypedDict

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode

from shared.errors import FieldError, NotFoundError, PlanRequiredError, ValidationError
from shared.naming import require_org_id
from shared.store._common import as_datetime, as_int, iso, utcnow

__all__ = [
    "MAX_MONTHLY_QUOTA",
    "Organization",
    "OrganizationRepository",
    "OrganizationWire",
    "Plan",
    "organization_view",
    "put_organization",
]

_ROW = "org"
MAX_MONTHLY_QUOTA = 10**12


class Plan(str, Enum):
    FREE = "free"
    PAID = "paid"


@dataclass(frozen=True)
class Organization:
    org_id: str
    plan: Plan
    monthly_quota: int
    created_at: datetime
    updated_at: datetime

    def require_paid_plan(self) -> None:
        if self.plan is not Plan.PAID:
            raise PlanRequiredError(
                "Syncing from an external bucket needs a paid plan; upgrade the organisation "
                "to connect storage.",
                extra={"plan": self.plan.value},
            )


class OrganizationWire(TypedDict):
    org: str
    plan: str
    monthlyQuota: int
    createdAt: str
    updatedAt: str


def organization_view(org: Organization) -> OrganizationWire:
    return OrganizationWire(
        org=org.org_id,
        plan=org.plan.value,
        monthlyQuota=org.monthly_quota,
        createdAt=iso(org.created_at),
        updatedAt=iso(org.updated_at),
    )


class OrganizationRepository:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    @staticmethod
    def _from_entity(entity: Mapping[str, Any]) -> Organization:
        now = utcnow()
        try:
            plan = Plan(entity.get("plan", Plan.FREE.value))
        except ValueError:
            plan = Plan.FREE
        return Organization(
            org_id=str(entity["PartitionKey"]),
            plan=plan,
            monthly_quota=as_int(entity.get("monthlyQuota")),
            created_at=as_datetime(entity.get("createdAt"), now),
            updated_at=as_datetime(entity.get("updatedAt"), now),
        )

    def get(self, org_id: str) -> Organization | None:
        try:
            return self._from_entity(self._table.get_entity(org_id, _ROW))
        except ResourceNotFoundError:
            return None

    def require(self, org_id: str) -> Organization:
        """The organisation, or a 404 ``org_not_found`` (after validating the id)."""
        require_org_id(org_id)
        org = self.get(org_id)
        if org is None:
            raise NotFoundError(f"organisation {org_id} does not exist", code="org_not_found")
        return org

    def put(
        self, org_id: str, *, plan: Plan, monthly_quota: int, now: datetime | None = None
    ) -> tuple[Organization, bool]:
        """Create or update; returns the organisation and whether it was created."""
        now = now or utcnow()
        entity: dict[str, Any] = {
            "PartitionKey": org_id,
            "RowKey": _ROW,
            "plan": plan.value,
            "monthlyQuota": EntityProperty(monthly_quota, EdmType.INT64),
            "updatedAt": now,
        }
        try:
            self._table.create_entity({**entity, "createdAt": now})
            created = True
        except ResourceExistsError:
            self._table.update_entity(entity, mode=UpdateMode.MERGE)
            created = False
        org = self.get(org_id)
        assert org is not None
        return org, created


def put_organization(
    org_id: str,
    body: Mapping[str, Any],
    *,
    orgs: OrganizationRepository,
    default_quota: int,
    now: datetime | None = None,
) -> tuple[Organization, bool]:
    """``PUT /orgs/{org}``: set the plan and (optionally) the monthly data-row quota."""
    require_org_id(org_id)
    errors: list[FieldError] = []
    for field in body:
        if field not in ("plan", "monthlyQuota"):
            errors.append(FieldError(field, "unknown_field", "is not a known field"))
    plan: Plan | None = None
    raw_plan = body.get("plan")
    if raw_plan is None:
        errors.append(FieldError("plan", "required", "is required"))
    else:
        try:
            plan = Plan(raw_plan) if isinstance(raw_plan, str) else None
        except ValueError:
            plan = None
        if plan is None:
            errors.append(FieldError("plan", "invalid_value", "must be 'free' or 'paid'"))
    quota = body.get("monthlyQuota")
    if quota is not None and (
        not isinstance(quota, int) or isinstance(quota, bool) or not 0 <= quota <= MAX_MONTHLY_QUOTA
    ):
        errors.append(
            FieldError(
                "monthlyQuota",
                "invalid_value",
                f"must be a whole number from 0 to {MAX_MONTHLY_QUOTA}",
            )
        )
    if errors:
        raise ValidationError(errors)
    assert plan is not None
    if quota is None:
        existing = orgs.get(org_id)
        quota = existing.monthly_quota if existing else default_quota
    return orgs.put(org_id, plan=plan, monthly_quota=quota, now=now)
