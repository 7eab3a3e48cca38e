"""Collaborators shared by the HTTP adapters, built once per worker process."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

import azure.functions as func
from azure.data.tables import TableClient, TableServiceClient

from shared import metadata_store
from shared.customer_storage import CustomerStorage
from shared.repositories import ConnectionRepository, OrganizationRepository, UsageRepository
from shared.repositories.cleanup import ASSETS_TABLE, RUNS_TABLE
from shared.repositories.connections import CONNECTIONS_TABLE
from shared.repositories.orgs import ORGANIZATIONS_TABLE
from shared.repositories.usage import USAGE_TABLE
from shared.settings import Settings
from shared.sync.runs import RunsRepository

__all__ = [
    "api_base",
    "assets_table",
    "connections",
    "connections_table",
    "customer_storage",
    "orgs",
    "override_customer_storage",
    "reset",
    "runs",
    "runs_table",
    "settings",
    "tables",
    "usage",
]

_overrides: dict[str, CustomerStorage] = {}


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def tables() -> TableServiceClient:
    """The metadata store, with the service's tables created on first use."""
    current = settings()
    metadata_store.ensure_tables(current)
    return metadata_store.table_service(current)


def _table(name: str) -> TableClient:
    return tables().get_table_client(name)


@lru_cache(maxsize=1)
def orgs() -> OrganizationRepository:
    return OrganizationRepository(_table(ORGANIZATIONS_TABLE))


@lru_cache(maxsize=1)
def usage() -> UsageRepository:
    return UsageRepository(_table(USAGE_TABLE))


@lru_cache(maxsize=1)
def connections() -> ConnectionRepository:
    return ConnectionRepository(_table(CONNECTIONS_TABLE))


@lru_cache(maxsize=1)
def connections_table() -> TableClient:
    return _table(CONNECTIONS_TABLE)


@lru_cache(maxsize=1)
def runs() -> RunsRepository:
    return RunsRepository(runs_table())


@lru_cache(maxsize=1)
def assets_table() -> TableClient:
    return _table(ASSETS_TABLE)


@lru_cache(maxsize=1)
def runs_table() -> TableClient:
    return _table(RUNS_TABLE)


@lru_cache(maxsize=1)
def _customer_storage() -> CustomerStorage:
    return CustomerStorage(settings())


def customer_storage() -> CustomerStorage:
    """Access to customers' storage (one per process; tests may substitute one)."""
    return _overrides.get("customer_storage") or _customer_storage()


def override_customer_storage(storage: CustomerStorage | None) -> None:
    """Use ``storage`` instead of the default (tests inject faults this way); None restores."""
    if storage is None:
        _overrides.pop("customer_storage", None)
    else:
        _overrides["customer_storage"] = storage


def reset() -> None:
    """Forget cached collaborators (tests that change the environment call this)."""
    for cached in (
        settings,
        tables,
        orgs,
        usage,
        connections,
        connections_table,
        runs,
        assets_table,
        runs_table,
        _customer_storage,
    ):
        cached.cache_clear()
    _overrides.clear()


def api_base(req: func.HttpRequest) -> str:
    """``scheme://host/api`` of the request, for absolute links in responses."""
    try:
        parts = urlsplit(req.url)
    except ValueError:  # a Host header no URL can hold: relative links still work
        return "/api"
    return f"{parts.scheme}://{parts.netloc}/api" if parts.netloc else "/api"
