"""One page of a flat blob listing, parsed lean.

``ContainerClient.list_blobs`` builds a full model object per blob (every property, metadata,
tags, deserialised through the generated client). A sync run needs five fields, so this sends the
same List Blobs request through the *client's own pipeline* (its credential, signing, retry
policy, timeouts and per-call policies, unchanged) and reads those fields straight from the XML.

An error response is not interpreted here: the page is requested once more through the SDK,
which raises the error the rest of the code classifies (an error costs one extra request, a
success costs none).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from azure.core.rest import HttpRequest
from azure.storage.blob.aio import BlobPrefix
from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

__all__ = ["ListedBlob", "list_blobs_page", "list_level_page"]


@dataclass(frozen=True, slots=True)
class ListedBlob:
    name: str
    etag: str  # without quotes
    size: int
    content_type: str | None
    last_modified: datetime | None


def _text(element: ET.Element | None) -> str | None:
    return element.text if element is not None else None


def _name(element: ET.Element | None) -> str:
    if element is None:
        return ""
    name = element.text or ""
    return unquote(name) if element.get("Encoded") == "true" else name


def parse_list_blobs(body: bytes) -> tuple[list[ListedBlob], str | None]:
    """The blobs and the next marker (None at the end) of a List Blobs response body."""
    blobs, _, marker = parse_list_level(body)
    return blobs, marker


def parse_list_level(body: bytes) -> tuple[list[ListedBlob], list[str], str | None]:
    """The blobs, the virtual folders (``BlobPrefix`` names, with a delimiter) and the next
    marker (None at the end) of a List Blobs response body."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # never in a List Blobs response
        raise ValueError("unexpected DTD in a List Blobs response")
    # No DTD, hence no entities to expand; the SDK parses the same body with xml.etree too.
    root = ET.fromstring(body)  # noqa: S314
    blobs: list[ListedBlob] = []
    container = root.find("Blobs")
    for blob in container.iterfind("Blob") if container is not None else ():
        name = _name(blob.find("Name"))
        props = blob.find("Properties")
        etag = size = ctype = modified = None
        if props is not None:
            etag = _text(props.find("Etag"))
            size = _text(props.find("Content-Length"))
            ctype = _text(props.find("Content-Type"))
            modified = _text(props.find("Last-Modified"))
        blobs.append(
            ListedBlob(
                name=name,
                etag=(etag or "").strip('"'),
                size=int(size or 0),
                content_type=ctype or None,
                last_modified=parsedate_to_datetime(modified) if modified else None,
            )
        )
    folders = (
        [_name(p.find("Name")) for p in container.iterfind("BlobPrefix")]
        if container is not None
        else []
    )
    marker = _text(root.find("NextMarker"))
    return blobs, folders, marker or None


async def _sdk_page(
    container: AsyncContainerClient,
    prefix: str | None,
    page_size: int,
    marker: str | None,
    delimiter: str | None = None,
) -> tuple[list[ListedBlob], list[str], str | None]:
    listing: Any = (
        container.walk_blobs(
            name_starts_with=prefix, delimiter=delimiter, results_per_page=page_size
        )
        if delimiter
        else container.list_blobs(name_starts_with=prefix, results_per_page=page_size)
    )
    pages: Any = listing.by_page(continuation_token=marker)
    items: list[ListedBlob] = []
    folders: list[str] = []
    async for page in pages:
        async for b in page:
            if isinstance(b, BlobPrefix):
                folders.append(b.name)
                continue
            settings = b.content_settings
            items.append(
                ListedBlob(
                    name=b.name,
                    etag=str(b.etag or "").strip('"'),
                    size=int(b.size or 0),
                    content_type=settings.content_type if settings else None,
                    last_modified=b.last_modified,
                )
            )
        break
    return items, folders, pages.continuation_token or None


async def list_blobs_page(
    container: AsyncContainerClient,
    *,
    prefix: str | None,
    page_size: int,
    marker: str | None,
) -> tuple[list[ListedBlob], str | None]:
    """One page of the container's blobs (flat, name order) and the next marker."""
    blobs, _, next_marker = await list_level_page(
        container, prefix=prefix, page_size=page_size, marker=marker
    )
    return blobs, next_marker


async def list_level_page(
    container: AsyncContainerClient,
    *,
    prefix: str | None,
    page_size: int,
    marker: str | None,
    delimiter: str | None = None,
) -> tuple[list[ListedBlob], list[str], str | None]:
    """One page of a listing in name order: the blobs, the virtual folders (only with a
    ``delimiter``: the names up to and including it, as ``BlobPrefix`` entries; they count
    against ``page_size``) and the next marker."""
    params = {"restype": "container", "comp": "list", "maxresults": str(page_size)}
    if prefix:
        params["prefix"] = prefix
    if delimiter:
        params["delimiter"] = delimiter
    if marker:
        params["marker"] = marker
    base = container.url
    url = base + ("&" if "?" in base else "?") + urlencode(params, quote_via=quote)
    request = HttpRequest(
        "GET", url, headers={"x-ms-version": container.api_version, "Accept": "application/xml"}
    )
    pipeline: Any = container._pipeline  # the client's own: credential, retries, policies
    response = (await pipeline.run(request, stream=False)).http_response
    if response.status_code != 200:
        # Raises the SDK's error (or, if the fault passed meanwhile, reads the same page).
        return await _sdk_page(container, prefix, page_size, marker, delimiter)
    return parse_list_level(response.body())
