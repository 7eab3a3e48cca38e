"""Listing a container several virtual folders at a time, with a cursor that fits in a run's
durable state.

A flat listing is one chain of pages: each request waits for the one before it. Blob names
that use ``/`` form virtual folders, and every folder can be listed on its own, by prefix, at
the same time as the others (as rclone does). The walk is a short list of *parts*:

- a **level** part asks for one folder's direct content with the ``/`` delimiter: its blobs
  and its sub-folders. It is taken only when the whole level fits in one page and its
  sub-folders fit in the walk; the sub-folders then become parts of their own (levels while
  the walk is narrower than ``width``, flat parts after that). Otherwise the folder is listed
  flat instead (the probe costs one request and nothing is counted twice);
- a **flat** part lists every blob under its prefix, page by page from its marker.

Each step lists the first ``width`` parts at once, one page each, and returns the blobs as
*segments*, each in name order. Together the parts always cover every name under the root
exactly once: a name either sits directly in a level that was taken (and is returned there)
or under exactly one of its sub-folders. The cursor is plain JSON with at most ``max_parts``
parts, so the history of a run stays bounded whatever the container holds; a container
without folders (or with too many) is listed flat, as before.

A cursor that is a string is a flat marker of the root (runs started before the walk).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypedDict

from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

from shared.customer_storage._listing import ListedBlob, list_level_page

__all__ = ["Part", "WalkStep", "walk_step"]

DELIMITER = "/"


class Part(TypedDict):
    prefix: str
    level: bool  # True: one level with the delimiter; False: flat, from ``marker``
    marker: str | None


@dataclass(frozen=True)
class WalkStep:
    segments: list[list[ListedBlob]]  # each in name order
    cursor: dict[str, Any] | None  # None: the walk is complete
    requests: int


def _parts(cursor: str | dict[str, Any] | None, root: str, width: int) -> list[Part]:
    if cursor is None:
        return [Part(prefix=root, level=width > 1, marker=None)]
    if isinstance(cursor, str):  # a flat marker (a run started before the walk)
        return [Part(prefix=root, level=False, marker=cursor)]
    parts = cursor.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ValueError("malformed listing cursor")
    out: list[Part] = []
    for p in parts:
        prefix, level, marker = p.get("prefix"), p.get("level"), p.get("marker")
        if (
            not isinstance(prefix, str)
            or not prefix.startswith(root)
            or not isinstance(level, bool)
        ):
            raise ValueError("malformed listing cursor")
        if marker is not None and (level or not isinstance(marker, str)):
            raise ValueError("malformed listing cursor")
        out.append(Part(prefix=prefix, level=level, marker=marker))
    return out


async def walk_step(
    container: AsyncContainerClient,
    cursor: str | dict[str, Any] | None,
    *,
    root: str,
    page_size: int,
    width: int,
    max_parts: int = 32,
) -> WalkStep:
    """List one page of each of the walk's first ``width`` parts, concurrently."""
    parts = _parts(cursor, root, width)
    active, rest = parts[:width], parts[width:]

    async def one(part: Part) -> tuple[list[ListedBlob], list[str], str | None]:
        return await list_level_page(
            container,
            prefix=part["prefix"] or None,
            page_size=page_size,
            marker=part["marker"],
            delimiter=DELIMITER if part["level"] else None,
        )

    pages = await asyncio.gather(*(one(p) for p in active))
    segments: list[list[ListedBlob]] = []
    walk: list[Part] = list(rest)
    found: list[str] = []  # sub-folders of the levels taken, in order
    for part, (blobs, folders, marker) in zip(active, pages, strict=True):
        if not part["level"]:
            if blobs:
                segments.append(blobs)
            if marker is not None:
                walk.append(Part(prefix=part["prefix"], level=False, marker=marker))
            continue
        fits = len(walk) + len(found) + len(folders) + (len(active) - 1) <= max_parts
        if marker is None and fits:
            if blobs:
                segments.append(blobs)
            found.extend(f for f in folders if f.startswith(part["prefix"]) and f != part["prefix"])
        else:  # too big for one look: list this folder flat from its start
            walk.append(Part(prefix=part["prefix"], level=False, marker=None))
    for folder in found:
        walk.append(Part(prefix=folder, level=len(walk) < width, marker=None))
    return WalkStep(
        segments=segments,
        cursor={"parts": walk} if walk else None,
        requests=len(active),
    )
