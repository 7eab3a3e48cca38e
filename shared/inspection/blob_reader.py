"""A :class:`~shared.inspection.reader.RangeReader` over an Azure blob (``azure.storage.blob.aio``).

The only module of the inspection package that imports the storage SDK. Each ``read`` is one
ranged ``GET`` (``x-ms-range``); the size comes from the listing, so no ``HEAD`` is spent. With
the listed etag the read is conditional (``If-Match``): a blob replaced after listing fails with
``ReadError(changed=True)`` instead of mixing two versions' bytes.
"""

from __future__ import annotations

import logging

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import BlobClient

from shared.inspection.reader import ReadError

__all__ = ["BlobRangeReader"]

logger = logging.getLogger(__name__)


class BlobRangeReader:
    """Ranged reads of one blob through an async ``BlobClient``; counts requests and bytes."""

    def __init__(self, client: BlobClient, size: int, *, etag: str | None = None) -> None:
        self._client = client
        self._size = size
        self._etag = etag
        self.requests = 0
        self.bytes_read = 0

    @property
    def size(self) -> int:
        return self._size

    async def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        length = min(length, self._size - offset)
        if length <= 0:
            return b""
        self.requests += 1
        try:
            if self._etag:
                downloader = await self._client.download_blob(
                    offset=offset,
                    length=length,
                    max_concurrency=1,
                    etag=self._etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            else:
                downloader = await self._client.download_blob(
                    offset=offset, length=length, max_concurrency=1
                )
            data: bytes = await downloader.readall()
        except ResourceNotFoundError as exc:
            raise ReadError("blob not found", status=404, missing=True) from exc
        except ResourceModifiedError as exc:
            raise ReadError("blob changed since it was listed", status=412, changed=True) from exc
        except HttpResponseError as exc:
            code = str(getattr(exc, "error_code", None) or "")
            raise ReadError(
                f"storage refused the read ({exc.status_code} {code})".strip(),
                status=exc.status_code,
            ) from exc
        except AzureError as exc:
            raise ReadError(f"storage read failed ({type(exc).__name__})") from exc
        self.bytes_read += len(data)
        return data
