"""The one composition root of the service's collaborators, shared by HTTP routes and activities.

Everything is built once per worker process, lazily, from :class:`Settings`: the metadata
:class:`Store` (one credential, tables and staging created once), one repository per table, and
access to customers' storage. :func:`reset` closes what was built (tests that change the
environment call it); :func:`override_customer_storage` lets tests inject faults through an
azure-core transport or policy.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property

from azure.data.tables import TableClient
from azure.data.tables.aio import TableClient as AsyncTableClient

from shared.autosync.store import AutosyncRepository
from shared.customer_storage import CustomerStorage
from shared.settings import Settings
from shared.store import ConnectionRepository, OrganizationRepository, Store, UsageRepository
from shared.store.runs import RunsRepository
from shared.store.staging import Staging
from shared.store.tables import (
    ASSETS_TABLE,
    AUTOSYNC_TABLE,
    CONNECTIONS_TABLE,
    EVENT_RECHECKS_TABLE,
    ORGANIZATIONS_TABLE,
    RUNS_TABLE,
    USAGE_TABLE,
    WEBHOOK_DELIVERIES_TABLE,
)

__all__ = ["Wiring", "override_customer_storage", "reset", "wiring"]


class Wiring:
    """The collaborators of one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings)
        self.storage_override: CustomerStorage | None = None

    @cached_property
    def _storage(self) -> CustomerStorage:
        return CustomerStorage(self.settings)

    @property
    def storage(self) -> CustomerStorage:
        """Read-only access to customers' storage accounts."""
        return self.storage_override or self._storage

    @cached_property
    def orgs(self) -> OrganizationRepository:
        return OrganizationRepository(self.store.table(ORGANIZATIONS_TABLE))

    @cached_property
    def usage(self) -> UsageRepository:
        return UsageRepository(self.store.table(USAGE_TABLE))

    @cached_property
    def connections(self) -> ConnectionRepository:
        return ConnectionRepository(self.store.table(CONNECTIONS_TABLE))

    @cached_property
    def autosync(self) -> AutosyncRepository:
        return AutosyncRepository(
            self.store.table(AUTOSYNC_TABLE),
            self.store.table(EVENT_RECHECKS_TABLE),
            self.store.table(WEBHOOK_DELIVERIES_TABLE),
        )

    @cached_property
    def runs(self) -> RunsRepository:
        return RunsRepository(self.store.table(RUNS_TABLE))

    @property
    def assets(self) -> TableClient:
        return self.store.table(ASSETS_TABLE)

    @property
    def runs_table(self) -> TableClient:
        return self.store.table(RUNS_TABLE)

    @asynccontextmanager
    async def assets_async(self) -> AsyncIterator[AsyncTableClient]:
        """An aio client of the Assets table for the current event loop."""
        async with self.store.async_table(ASSETS_TABLE) as client:
            yield client

    @cached_property
    def staging(self) -> Staging:
        return Staging(self.store.staging_container())

    @property
    def rows_per_kind(self) -> dict[str, int]:
        return {
            "image": self.settings.data_rows_per_image,
            "video": self.settings.data_rows_per_video,
        }

    def close(self) -> None:
        """Close the customer credentials (per tenant) and the metadata store's clients."""
        if "_storage" in self.__dict__:
            self._storage.close()
        self.store.close()


_lock = threading.Lock()
_current: Wiring | None = None


def wiring() -> Wiring:
    """This process's collaborators (built on first use from the environment)."""
    global _current
    current = _current
    if current is None:
        with _lock:
            if _current is None:
                _current = Wiring(Settings.from_env())
            current = _current
    return current


def reset() -> None:
    """Close and forget this process's collaborators (the next use reads the environment)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = None


def override_customer_storage(storage: CustomerStorage | None) -> None:
    """Use ``storage`` for customers' accounts (tests inject faults this way); None restores."""
    wiring().storage_override = storage
