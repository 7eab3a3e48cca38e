"""A :class:`~shared.inspection.reader.RangeReader` over an Azure blob (``azure.storage.blob.aio``).

The only module of the inspection package that imports the storage SDK. Each ``read`` is one
ranged ``GET`` (``x-ms-range``); the size comes from the listing, so no ``HEAD`` is spent. With
the listed etag the read is conditional (``If-Match``): a blob replaced after listing fails with
``ReadError(changed=True)`` instead of mixing two versions' bytes.

The request goes through the *container client's own pipeline* (its credential, signing,
retries, timeouts and per-call policies, unchanged): no ``BlobClient`` and no download object
is built per blob, which is most of the CPU a small read costs through the SDK.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from azure.core.exceptions import AzureError
from azure.storage.blob.aio import ContainerClient

from shared.customer_storage._raw import raw_get
from shared.inspection.reader import ReadError

__all__ = ["BlobRangeReader"]

logger = logging.getLogger(__name__)


class BlobRangeReader:
    """Ranged reads of one blob of ``container``; counts requests and bytes."""

    def __init__(
        self, container: ContainerClient, name: str, size: int, *, etag: str | None = None
    ) -> None:
        self._container = container
        self._name = name
        self._size = size
        self._etag = etag
        self.requests = 0
        self.bytes_read = 0

    @property
    def size(self) -> int:
        return self._size

    def _url(self) -> str:
        base, _, query = self._container.url.partition("?")
        url = f"{base.rstrip('/')}/{quote(self._name, safe='~/')}"
        return f"{url}?{query}" if query else url

    async def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        length = min(length, self._size - offset)
        if length <= 0:
            return b""
        self.requests += 1
        headers = {
            "x-ms-version": self._container.api_version,
            "x-ms-range": f"bytes={offset}-{offset + length - 1}",
        }
        if self._etag:
            headers["If-Match"] = f'"{self._etag}"'
        try:
            response = await raw_get(self._container, self._url(), headers)
        except AzureError as exc:
            raise ReadError(f"storage read failed ({type(exc).__name__})") from exc
        status = response.status
        if status == 404:
            raise ReadError("blob not found", status=404, missing=True)
        if status == 412:
            raise ReadError("blob changed since it was listed", status=412, changed=True)
        if status not in (200, 206):
            code = response.headers.get("x-ms-error-code") or ""
            raise ReadError(f"storage refused the read ({status} {code})".strip(), status=status)
        data = response.body
        self.bytes_read += len(data)
        return data
