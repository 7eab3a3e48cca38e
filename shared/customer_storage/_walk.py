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

The walk also records its *shape*: every folder it took as a level and every folder it listed
flat. A later walk of the same container can be *seeded* with that shape: all of its parts
start at once, with no chain of looks before the big folders are listed. The levels of the
seed are still looked at (new blobs and new folders show up there); a sub-folder that is part
of the seed is not added again, and a seeded level that no longer fits is listed flat without
the seeded folders under it. So a seed changes the order of requests, never what is listed.

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

__all__ = ["Part", "ShapePart", "WalkStep", "valid_seed", "walk_step"]

DELIMITER = "/"


class Part(TypedDict):
    prefix: str
    level: bool  # True: one level with the delimiter; False: flat, from ``marker``
    marker: str | None


class ShapePart(TypedDict):
    """A folder of a finished walk: taken as a level, or listed flat."""

    prefix: str
    level: bool


@dataclass(frozen=True)
class WalkStep:
    segments: list[list[ListedBlob]]  # each in name order
    cursor: dict[str, Any] | None  # None: the walk is complete
    requests: int
    #: The finished walk's shape (a seed for the next walk of the container); None while the
    #: walk goes on, or when it was not recorded (too many folders, an old cursor).
    shape: list[ShapePart] | None = None


def _parent(prefix: str, root: str) -> str:
    """The folder a sub-folder was found in: ``a/b/`` in ``a/``, ``a/`` in the root."""
    inner = prefix[:-1]
    cut = inner.rfind(DELIMITER, len(root)) + 1
    return inner[:cut] if cut > len(root) else root


def valid_seed(seed: Any, root: str, max_parts: int = 32) -> list[ShapePart] | None:
    """``seed`` as a walk can start from it, or None when it cannot: it must be a list of
    distinct folders under ``root`` that includes ``root``, where each folder's parent is in
    it too (so a sub-folder not in it has nothing of the seed under it). Folders under one
    listed flat are left out (that folder's flat listing covers them)."""
    if not isinstance(seed, list) or not 0 < len(seed) <= max_parts:
        return None
    out: list[ShapePart] = []
    for item in seed:
        if not isinstance(item, dict):
            return None
        prefix, level = item.get("prefix"), item.get("level")
        if not isinstance(prefix, str) or not isinstance(level, bool):
            return None
        if prefix != root and not (prefix.startswith(root) and prefix.endswith(DELIMITER)):
            return None
        out.append(ShapePart(prefix=prefix, level=level))
    prefixes = {p["prefix"] for p in out}
    if len(prefixes) != len(out) or root not in prefixes:
        return None
    if any(p != root and _parent(p, root) not in prefixes for p in prefixes):
        return None
    out = _uncovered(out)
    if len(out) == 1 and not out[0]["level"]:
        return None  # a root listed flat: nothing to gain, and the next walk looks again
    return out


def _uncovered(shape: list[ShapePart]) -> list[ShapePart]:
    """The shape without the folders under a folder listed flat. Those were only there because
    this walk was seeded with them (a seeded level that outgrew its page was listed flat, and
    listed them again to skip them): the next walk lists that folder flat once, or looks at it
    again when it is the root."""
    flats = tuple(p["prefix"] for p in shape if not p["level"])
    return [
        p for p in shape if not any(p["prefix"] != f and p["prefix"].startswith(f) for f in flats)
    ]


def _state(
    cursor: str | dict[str, Any] | None,
    root: str,
    width: int,
    seed: list[ShapePart] | None,
) -> tuple[list[Part], list[str], list[ShapePart] | None]:
    """The parts still to list, the seeded folders and the shape recorded so far."""
    if cursor is None:
        if seed:  # flat parts first: they are the long chains of pages
            ordered = sorted(seed, key=lambda p: (p["level"], p["prefix"]))
            starts = [Part(prefix=p["prefix"], level=p["level"], marker=None) for p in ordered]
            return starts, [p["prefix"] for p in seed], []
        return [Part(prefix=root, level=width > 1, marker=None)], [], []
    if isinstance(cursor, str):  # a flat marker (a run started before the walk)
        return [Part(prefix=root, level=False, marker=cursor)], [], None
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
    seeded = cursor.get("seeded", [])
    if not isinstance(seeded, list) or not all(isinstance(x, str) for x in seeded):
        raise ValueError("malformed listing cursor")
    shape = cursor.get("shape")
    if shape is not None and not (
        isinstance(shape, list)
        and all(
            isinstance(x, dict)
            and isinstance(x.get("prefix"), str)
            and isinstance(x.get("level"), bool)
            for x in shape
        )
    ):
        raise ValueError("malformed listing cursor")
    return out, seeded, shape


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
    seed: list[ShapePart] | None = None,
) -> WalkStep:
    """Walk on from ``cursor`` with up to ``width`` requests on the wire at once: a part whose
    page comes back goes on at once (its next page, or its sub-folders), as long as ``take``,
    given each page of blobs as it arrives, says to go on. Without ``take``, one page of each
    of the walk's first ``width`` parts (and their pages are returned as segments).

    When ``take`` says stop, no request is started any more; the pages already asked for are
    still taken, and the cursor holds every part not finished (its marker). ``may_ask``,
    given the number of requests on the wire, can hold back a further one (at least one is
    always let through). ``seed`` (a shape from :func:`valid_seed`) starts a new walk
    (``cursor`` None) with all of its parts at once."""
    parts, seeded_list, shape = _state(cursor, root, width, seed)
    queue: deque[Part] = deque(parts)
    seeded = set(seeded_list)
    segments: list[list[ListedBlob]] = []

    def record(prefix: str, level: bool) -> None:
        nonlocal shape
        if shape is not None:
            shape = [*shape, ShapePart(prefix=prefix, level=level)]
            if len(shape) > max_parts:
                shape = None  # too many folders to seed a walk with: not recorded

    def outside_seed(prefix: str, blobs: list[ListedBlob]) -> list[ListedBlob]:
        # A flat part leaves the seeded folders under it to their own parts.
        below = tuple(s for s in seeded if s != prefix and s.startswith(prefix))
        return [b for b in blobs if not b.name.startswith(below)] if below else blobs

    def keep(blobs: list[ListedBlob]) -> bool:
        segments.append(blobs)
        return True

    consume = take or keep
    going = True
    budget = min(width, len(queue)) if take is None else None  # one round without ``take``
    max_flat = max(1, width // 2)
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
                # Flat parts return full pages: at most half the width of them at once keeps
                # the pages held in memory bounded (the store serves them one at a time anyway)
                # while looks at levels still go out.
                flats = sum(1 for p in running.values() if not p["level"])
                pick = next(
                    (k for k, p in enumerate(queue) if p["level"] or flats < max_flat), None
                )
                if pick is None:
                    break
                part = queue[pick]
                del queue[pick]
                start(part)
                if budget is not None:
                    budget -= 1
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: running[t]["prefix"]):
                part = running.pop(task)
                blobs, folders, marker = task.result()
                if not part["level"]:
                    if part["marker"] is None and blobs:
                        record(part["prefix"], False)
                    if marker is not None:
                        queue.append(Part(prefix=part["prefix"], level=False, marker=marker))
                    blobs = outside_seed(part["prefix"], blobs)
                    if blobs and not consume(blobs):
                        going = False
                    continue
                room = max_parts - len(queue) - len(running)
                subs = [
                    f
                    for f in folders
                    if f.startswith(part["prefix"]) and f != part["prefix"] and f not in seeded
                ]
                if marker is None and len(subs) <= room:
                    if blobs or folders:
                        record(part["prefix"], True)
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
    if queue:
        state: dict[str, Any] = {"parts": list(queue)}
        if seeded:
            state["seeded"] = sorted(seeded)
        if shape is not None:
            state["shape"] = shape
        return WalkStep(segments=segments, cursor=state, requests=requests)
    final = valid_seed(shape, root, max_parts) if shape else None
    return WalkStep(segments=segments, cursor=None, requests=requests, shape=final)
