"""Staged run data in the platform's metadata account (blob container ``sync-staging``).

Pages of changed blobs, the snapshot of a connection's stored rows and the names each page
listed are written here so that only references cross the durable boundary. Everything of a run
lives under ``<runId>/`` and is deleted when the run ends.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from typing import Any, TypedDict

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from shared.store._common import chunked

__all__ = ["SnapshotRow", "StagedEntry", "Staging"]

_log = logging.getLogger(__name__)


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


class Staging:
    """Read and write one run's staged data."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    # -- generic ----------------------------------------------------------------------------
    def _put(self, name: str, value: Any) -> None:
        self._container.upload_blob(name, _dump(value), overwrite=True)

    def _get(self, name: str) -> Any:
        return _load(self._container.download_blob(name).readall())

    def delete_run(self, run_id: str) -> int:
        names = [b for b in self._container.list_blob_names(name_starts_with=f"{run_id}/")]
        for part in chunked(names, 256):  # a blob batch holds at most 256 sub-requests
            self._container.delete_blobs(*part)
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
        for k, part in enumerate(chunked(rows, chunk)):
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
