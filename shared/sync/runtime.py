"""Collaborators of the sync activities, built once per worker process from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache

from azure.data.tables import TableClient
from azure.data.tables.aio import TableClient as AsyncTableClient

from shared.customer_storage import CustomerStorage
from shared.settings import Settings
from shared.store import ConnectionRepository, OrganizationRepository
from shared.store import client as metadata_store
from shared.store.assets import ASSETS_TABLE
from shared.store.connections import CONNECTIONS_TABLE
from shared.store.orgs import ORGANIZATIONS_TABLE
from shared.store.runs import RUNS_TABLE, RunsRepository
from shared.store.staging import Staging
from shared.store.usage import USAGE_TABLE

__all__ = ["SyncRuntime", "runtime"]


@dataclass
class SyncRuntime:
    settings: Settings

    @cached_property
    def storage(self) -> CustomerStorage:
        return CustomerStorage(self.settings)

    @cached_property
    def staging(self) -> Staging:
        return Staging.from_settings(self.settings)

    def _table(self, name: str) -> TableClient:
        return metadata_store.table_service(self.settings).get_table_client(name)

    @cached_property
    def assets(self) -> TableClient:
        return self._table(ASSETS_TABLE)

    @cached_property
    def usage(self) -> TableClient:
        return self._table(USAGE_TABLE)

    @cached_property
    def connections(self) -> ConnectionRepository:
        return ConnectionRepository(self._table(CONNECTIONS_TABLE))

    @cached_property
    def orgs(self) -> OrganizationRepository:
        return OrganizationRepository(self._table(ORGANIZATIONS_TABLE))

    @cached_property
    def runs(self) -> RunsRepository:
        return RunsRepository(self._table(RUNS_TABLE))

    @asynccontextmanager
    async def assets_async(self) -> AsyncIterator[AsyncTableClient]:
        """An aio client for the current event loop (activities run their own loop)."""
        async with metadata_store.async_table_client(self.settings, ASSETS_TABLE) as client:
            yield client

    @property
    def rows_per_kind(self) -> dict[str, int]:
        return {
            "image": self.settings.data_rows_per_image,
            "video": self.settings.data_rows_per_video,
        }


@lru_cache(maxsize=1)
def runtime() -> SyncRuntime:
    settings = Settings.from_env()
    metadata_store.ensure_tables(settings)
    return SyncRuntime(settings)
