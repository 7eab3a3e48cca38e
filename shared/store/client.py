"""Access to the platform's metadata store (Azure Tables): one cached service client per
settings, the table names, and a cheap liveness probe."""

from __future__ import annotations

import logging
from functools import lru_cache

from azure.core.exceptions import AzureError
from azure.data.tables import TableServiceClient
from azure.data.tables.aio import TableClient as AsyncTableClient

from shared.settings import Settings

__all__ = ["TABLES", "async_table_client", "ensure_tables", "ping", "table_service"]

_log = logging.getLogger(__name__)
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

#: Every table the service owns in the metadata account.
TABLES = ("Organizations", "Usage", "Connections", "Assets", "SyncRuns", "StagedPages")


@lru_cache(maxsize=8)
def table_service(settings: Settings) -> TableServiceClient:
    """The metadata store's service client (connection string, or endpoint + managed identity)."""
    if settings.metadata_connection:
        return TableServiceClient.from_connection_string(settings.metadata_connection)
    from azure.identity import DefaultAzureCredential

    return TableServiceClient(settings.metadata_table_endpoint, credential=DefaultAzureCredential())


def async_table_client(settings: Settings, table: str) -> AsyncTableClient:
    """An aio client for one table; create it inside the event loop that uses it."""
    if settings.metadata_connection:
        return AsyncTableClient.from_connection_string(settings.metadata_connection, table)
    from azure.identity.aio import DefaultAzureCredential

    return AsyncTableClient(
        settings.metadata_table_endpoint, table, credential=DefaultAzureCredential()
    )


def ensure_tables(settings: Settings) -> None:
    """Create the service's tables if they are missing (idempotent)."""
    service = table_service(settings)
    for name in TABLES:
        service.create_table_if_not_exists(name)


def ping(settings: Settings) -> bool:
    """True when the metadata store answers a minimal query."""
    try:
        next(iter(table_service(settings).list_tables(results_per_page=1)), None)
    except AzureError as exc:
        _log.warning("metadata store did not answer: %s", type(exc).__name__)
        return False
    return True
