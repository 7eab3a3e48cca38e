"""The platform's metadata account: one :class:`Store` per worker process holding the account's
clients (tables and the ``sync-staging`` container) and a single credential, created lazily,
checked once, and closed cleanly.

Two ways to reach the account, chosen by the settings:

- a connection string (``METADATA_STORAGE_CONNECTION``, or ``AzureWebJobsStorage``): Azurite
  locally and in tests;
- identity-based (``METADATA_STORAGE__tableServiceUri`` / ``__blobServiceUri``, with
  ``__credential=managedidentity`` and optionally ``__clientId`` for a user-assigned identity):
  Azure, with no key in any setting.

Async table clients are bound to the event loop that uses them (activities run their own loop),
so they are made per use; with a managed identity they all share the store's one synchronous
credential (its token cache included) through a small async adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from functools import cached_property
from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient
from azure.data.tables.aio import TableClient as AsyncTableClient
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from shared.settings import Settings
from shared.store.tables import ALL_TABLES, STAGING_CONTAINER

__all__ = ["Store"]

_log = logging.getLogger(__name__)
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)


class _AsyncCredential:
    """An ``AsyncTokenCredential`` over the store's synchronous credential: one token cache for
    every event loop; the (rare) token request runs off the loop in a thread."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        """The store owns and closes the wrapped credential."""

    async def __aenter__(self) -> _AsyncCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class Store:
    """The metadata account's clients, built from the settings on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._tables: dict[str, TableClient] = {}
        self._ensured = False

    # -- credential ---------------------------------------------------------------------------
    @cached_property
    def _credential(self) -> TokenCredential | None:
        """None with a connection string; else the app's managed identity (or, off Azure, the
        developer's login through ``DefaultAzureCredential``)."""
        if self._settings.metadata_connection:
            return None
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        client_id = self._settings.metadata_client_id
        if self._settings.metadata_credential == "managedidentity":
            return ManagedIdentityCredential(client_id=client_id or None)
        return DefaultAzureCredential(managed_identity_client_id=client_id or None)

    # -- clients ------------------------------------------------------------------------------
    @cached_property
    def table_service(self) -> TableServiceClient:
        settings = self._settings
        if settings.metadata_connection:
            return TableServiceClient.from_connection_string(settings.metadata_connection)
        assert self._credential is not None
        return TableServiceClient(settings.metadata_table_uri, credential=self._credential)

    @cached_property
    def _blob_service(self) -> BlobServiceClient:
        """The staging container's account. Short retries (about 1, 3, 5, 9, 17 s instead of
        the SDK's 15, 18, 24 s) and timeouts that fit staged pages: a longer outage is waited
        out by the orchestrator's durable timers."""
        settings = self._settings
        options: dict[str, Any] = {
            "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=5),
            "connection_timeout": 10,
            "read_timeout": 30,
        }
        if settings.metadata_connection:
            return BlobServiceClient.from_connection_string(settings.metadata_connection, **options)
        assert self._credential is not None
        return BlobServiceClient(settings.metadata_blob_uri, credential=self._credential, **options)

    def ensure(self) -> None:
        """Create the service's tables and the staging container if missing (once per process)."""
        with self._lock:
            if self._ensured:
                return
            for name in ALL_TABLES:
                self.table_service.create_table_if_not_exists(name)
            with contextlib.suppress(ResourceExistsError):
                self._blob_service.get_container_client(STAGING_CONTAINER).create_container()
            self._ensured = True

    def table(self, name: str) -> TableClient:
        """A blocking client for one of :data:`~shared.store.tables.ALL_TABLES` (cached)."""
        self.ensure()
        with self._lock:
            client = self._tables.get(name)
            if client is None:
                client = self._tables[name] = self.table_service.get_table_client(name)
            return client

    @contextlib.asynccontextmanager
    async def async_table(self, name: str) -> AsyncIterator[AsyncTableClient]:
        """An aio client for one table, for the current event loop; closed on exit."""
        self.ensure()
        settings = self._settings
        if settings.metadata_connection:
            client = AsyncTableClient.from_connection_string(settings.metadata_connection, name)
        else:
            assert self._credential is not None
            client = AsyncTableClient(
                settings.metadata_table_uri,
                name,
                credential=_AsyncCredential(self._credential),  # type: ignore[arg-type]
            )
        async with client:
            yield client

    def staging_container(self) -> ContainerClient:
        self.ensure()
        return self._blob_service.get_container_client(STAGING_CONTAINER)

    # -- health and lifetime ----------------------------------------------------------------
    def ping(self) -> bool:
        """True when the metadata store answers a minimal query."""
        try:
            next(iter(self.table_service.list_tables(results_per_page=1)), None)
        except AzureError as exc:
            _log.warning("metadata store did not answer: %s", type(exc).__name__)
            return False
        return True

    def close(self) -> None:
        """Close every client and the credential (idempotent)."""
        with self._lock:
            for client in self._tables.values():
                client.close()
            self._tables.clear()
            for name in ("table_service", "_blob_service"):
                client = self.__dict__.pop(name, None)
                if client is not None:
                    client.close()
            credential = self.__dict__.pop("_credential", None)
            if credential is not None and hasattr(credential, "close"):
                credential.close()
            self._ensured = False
