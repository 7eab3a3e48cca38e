"""Table repositories of the metadata store: organisations, monthly usage, connections, and the
clean-up of a removed connection's rows. Repositories take a ``TableClient``; the use cases in
``connection_manager`` take repositories as keyword arguments."""

from __future__ import annotations

from shared.store.cleanup import DeletedRows, delete_connection_rows
from shared.store.connections import (
    CONNECTIONS_TABLE,
    PROVIDER,
    AssetCounts,
    Connection,
    ConnectionRepository,
    ConnectionState,
)
from shared.store.orgs import (
    ORGANIZATIONS_TABLE,
    Organization,
    OrganizationRepository,
    Plan,
)
from shared.store.usage import (
    USAGE_TABLE,
    USED_FIELD,
    UsageRepository,
    UsageSnapshot,
    month_of,
)

__all__ = [
    "CONNECTIONS_TABLE",
    "ORGANIZATIONS_TABLE",
    "PROVIDER",
    "USAGE_TABLE",
    "USED_FIELD",
    "AssetCounts",
    "Connection",
    "ConnectionRepository",
    "ConnectionState",
    "DeletedRows",
    "Organization",
    "OrganizationRepository",
    "Plan",
    "UsageRepository",
    "UsageSnapshot",
    "delete_connection_rows",
    "month_of",
]
