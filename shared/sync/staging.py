"""Staged run data in the platform's metadata account (blob container ``sync-staging``).

Pages of changed blobs, the snapshot of a connection's stored rows and the names each page
listed are written here so that only references cross the durable boundary. Everything of a run
lives under ``<runId>/`` and is deleted when the run ends.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, TypedDict

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from shared.settings import Settings

__all__ = ["STAGING_CONTAINER", "SnapshotRow", "StagedEntry", "Staging"]

_log = logging.getLogger(__name__)

STAGING_CONTAINER = "sync-staging"


class StagedEntry(TypedDict):
    """A listed blob that needs inspection (new, changed, or to retry)."""

    n: str  # name
    e: str  # etag
    s: int  # size
    t: str | None  # content type
    m: str | None  # last modified, ISO 8601
    p: str | None  # previous row status, None when there was no row


class SnapshotRow(TypedDict):
    n: str  # name
    e: str  # etag
    s: int  # size
    st: str  # status
    r: str | None  # reason


def _dump(value: Any) -> bytes:
    return gzip.compress(json.dumps(value, separators=(",", ":")).encode(), compresslevel=3)


def _load(data: bytes) -> Any:
    return json.loads(gzip.decompress(data))


def _client_options() -> dict[str, Any]:
    """Short retries (about 1, 3, 5, 9, 17 s instead of the SDK's 15, 18, 24 s) and timeouts
    that fit staged pages: a longer outage is waited out by the orchestrator's timers."""
    return {
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=5),
        "connection_timeout": 10,
        "read_timeout": 30,
    }


@lru_cache(maxsize=8)
def _service(connection: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(connection, **_client_options())


class Staging:
    """Read and write one run's staged data."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    @classmethod
    def from_settings(cls, settings: Settings) -> Staging:
        if settings.metadata_connection:
            service = _service(settings.metadata_connection)
        else:  # managed identity: the account's blob endpoint next to its table endpoint
            from azure.identity import DefaultAzureCredential

            endpoint = settings.metadata_table_endpoint.replace(".table.", ".blob.")
            service = BlobServiceClient(
                endpoint, credential=DefaultAzureCredential(), **_client_options()
            )
        container = service.get_container_client(STAGING_CONTAINER)
        with contextlib.suppress(ResourceExistsError):
            container.create_container()
        return cls(container)

    # -- generic ----------------------------------------------------------------------------
    def _put(self, name: str, value: Any) -> None:
        self._container.upload_blob(name, _dump(value), overwrite=True)

    def _get(self, name: str) -> Any:
        return _load(self._container.download_blob(name).readall())

    def delete_run(self, run_id: str) -> int:
        names = [b for b in self._container.list_blob_names(name_starts_with=f"{run_id}/")]
        for start in range(0, len(names), 256):
            self._container.delete_blobs(*names[start : start + 256])
        return len(names)

    # -- pages ------------------------------------------------------------------------------
    @staticmethod
    def page_ref(run_id: str, index: int) -> str:
        return f"{run_id}/page-{index:06d}.json.gz"

    def put_page(self, run_id: str, index: int, entries: list[StagedEntry]) -> str:
        ref = self.page_ref(run_id, index)
        self._put(ref, entries)
        return ref

    def get_page(self, ref: str) -> list[StagedEntry]:
        if not ref.count("/") == 1 or not ref.endswith(".json.gz"):
            raise ValueError("not a staged page reference")
        value: list[StagedEntry] = self._get(ref)
        return value

    def put_listed(self, run_id: str, index: int, row_keys: list[str]) -> None:
        self._put(f"{run_id}/listed-{index:06d}.json.gz", row_keys)

    def iter_listed(self, run_id: str) -> Iterator[list[str]]:
        for name in self._container.list_blob_names(name_starts_with=f"{run_id}/listed-"):
            keys: list[str] = self._get(name)
            yield keys

    # -- snapshot of stored rows -------------------------------------------------------------
    def put_snapshot(self, run_id: str, rows: list[SnapshotRow], chunk: int = 5000) -> int:
        """Store rows sorted by name in chunks, with an index of each chunk's first name."""
        rows.sort(key=lambda r: r["n"])
        firsts: list[str] = []
        for k, start in enumerate(range(0, len(rows), chunk)):
            part = rows[start : start + chunk]
            firsts.append(part[0]["n"])
            self._put(f"{run_id}/snapshot-{k:06d}.json.gz", part)
        self._put(f"{run_id}/snapshot-index.json.gz", firsts)
        return len(firsts)

    def snapshot_index(self, run_id: str) -> list[str]:
        try:
            firsts: list[str] = self._get(f"{run_id}/snapshot-index.json.gz")
        except ResourceNotFoundError:
            return []
        return firsts

    def snapshot_chunk(self, run_id: str, k: int) -> list[SnapshotRow]:
        rows: list[SnapshotRow] = self._get(f"{run_id}/snapshot-{k:06d}.json.gz")
        return rows

    def iter_snapshot(self, run_id: str) -> Iterator[SnapshotRow]:
        for k in range(len(self.snapshot_index(run_id))):
            yield from self.snapshot_chunk(run_id, k)
