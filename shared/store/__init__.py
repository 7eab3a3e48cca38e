"""Every adapter of the platform's metadata account: :class:`Store` (the account's clients, one
credential, tables and the staging container created on first use), the table names
(:mod:`shared.store.tables`) and one repository per table (organisations, monthly usage,
connections, runs, assets) plus the staging container. Use cases take repositories as keyword
arguments; :mod:`shared.wiring` builds them once per worker process."""

from __future__ import annotations

from shared.store.cleanup import DeletedRows, delete_connection_rows
from shared.store.client import Store
from shared.store.connections import (
    PROVIDER,
    AssetCounts,
    Connection,
    ConnectionRepository,
    ConnectionState,
)
from shared.store.orgs import (
    Organization,
    OrganizationRepository,
    Plan,
)
from shared.store.usage import (
    USED_FIELD,
    UsageRepository,
    UsageSnapshot,
    month_of,
)

__all__ = [
    "PROVIDER",
    "USED_FIELD",
    "AssetCounts",
    "Connection",
    "ConnectionRepository",
    "ConnectionState",
    "DeletedRows",
    "Organization",
    "OrganizationRepository",
    "Plan",
    "Store",
    "UsageRepository",
    "UsageSnapshot",
    "delete_connection_rows",
    "month_of",
]
