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
from collections import deque
from collections.abc import Callable
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
    take: Callable[[list[ListedBlob]], bool] | None = None,
    may_ask: Callable[[int], bool] | None = None,
) -> WalkStep:
    """Walk on from ``cursor`` with up to ``width`` requests on the wire at once: a part whose
    page comes back goes on at once (its next page, or its sub-folders), as long as ``take``,
    given each page of blobs as it arrives, says to go on. Without ``take``, one page of each
    of the walk's first ``width`` parts (and their pages are returned as segments).

    When ``take`` says stop, no request is started any more; the pages already asked for are
    still taken, and the cursor holds every part not finished (its marker). ``may_ask``,
    given the number of requests on the wire, can hold back a further one (at least one is
    always let through)."""
    queue: deque[Part] = deque(_parts(cursor, root, width))
    segments: list[list[ListedBlob]] = []

    def keep(blobs: list[ListedBlob]) -> bool:
        segments.append(blobs)
        return True

    consume = take or keep
    going = True
    budget = min(width, len(queue)) if take is None else None  # one round without ``take``
    requests = 0
    running: dict[asyncio.Task[tuple[list[ListedBlob], list[str], str | None]], Part] = {}

    def start(part: Part) -> None:
        nonlocal requests
        requests += 1
        running[
            asyncio.ensure_future(
                list_level_page(
                    container,
                    prefix=part["prefix"] or None,
                    page_size=page_size,
                    marker=part["marker"],
                    delimiter=DELIMITER if part["level"] else None,
                )
            )
        ] = part

    try:
        while queue or running:
            while (
                going
                and queue
                and len(running) < width
                and (budget is None or budget > 0)
                and (not running or may_ask is None or may_ask(len(running)))
            ):
                start(queue.popleft())
                if budget is not None:
                    budget -= 1
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: running[t]["prefix"]):
                part = running.pop(task)
                blobs, folders, marker = task.result()
                if not part["level"]:
                    if marker is not None:
                        queue.append(Part(prefix=part["prefix"], level=False, marker=marker))
                    if blobs and not consume(blobs):
                        going = False
                    continue
                room = max_parts - len(queue) - len(running)
                subs = [f for f in folders if f.startswith(part["prefix"]) and f != part["prefix"]]
                if marker is None and len(subs) <= room:
                    for folder in subs:
                        wide = len(queue) + len(running) < width
                        queue.append(Part(prefix=folder, level=wide, marker=None))
                    if blobs and not consume(blobs):
                        going = False
                else:  # too big for one look: list this folder flat from its start
                    queue.append(Part(prefix=part["prefix"], level=False, marker=None))
    finally:
        for task in running:
            task.cancel()
    return WalkStep(
        segments=segments,
        cursor={"parts": list(queue)} if queue else None,
        requests=requests,
    )
