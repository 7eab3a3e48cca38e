"""The folder walk (``shared.customer_storage.walk_step``) lists exactly what a flat listing
lists, whatever the tree, the page size and the width; folders are listed at once; its cursor
stays small JSON; a flat marker from a run started before the walk still continues."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote

import pytest
from azure.core.pipeline.policies import AsyncHTTPPolicy
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.blob import ContainerClient
from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

from devhost.azurite import EmulatorAccount
from shared.customer_storage import (
    PolicyTransport,
    ShapePart,
    list_blobs_page,
    valid_seed,
    walk_step,
)

TREE = [
    "root-a.jpg",
    "root-z.jpg",
    "a/1.jpg",
    "a/2.jpg",
    "ab/1.jpg",  # "a/" must not swallow "ab/"
    "a/b/c/deep.jpg",
    "a/b/c/deeper/x.jpg",
    "double//slash.jpg",
    "/leading.jpg",
    "ünïcödé/名前.jpg",
    "with space/and+plus%25.png",
    "amp&lt;/x.txt",
    *[f"big/{i:03d}.jpg" for i in range(23)],  # more than a page
    *[f"many/f{i:02d}/x.jpg" for i in range(12)],  # more sub-folders than the walk holds
]


class _InFlight(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """Counts list requests on the wire at once (with a short hold, so overlaps show)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.most = 0
        self.prefixes: list[str] = []
        self.flat_now = 0
        self.flat_most = 0  # flat listings (no delimiter) on the wire at once

    async def send(self, request: Any) -> Any:
        flat = "delimiter" not in request.http_request.query
        self.now += 1
        self.flat_now += flat
        self.most = max(self.most, self.now)
        self.flat_most = max(self.flat_most, self.flat_now)
        self.prefixes.append(unquote(request.http_request.query.get("prefix", "")))
        try:
            await asyncio.sleep(0.05)
            return await self.next.send(request)
        finally:
            self.now -= 1
            self.flat_now -= flat


async def _walk_all(
    cc: AsyncContainerClient, *, root: str, page_size: int, width: int, max_parts: int
) -> tuple[list[str], int]:
    names: list[str] = []
    cursor: Any = None
    steps = 0
    while True:
        step = await walk_step(
            cc, cursor, root=root, page_size=page_size, width=width, max_parts=max_parts
        )
        steps += 1
        for segment in step.segments:
            seg = [b.name for b in segment]
            assert seg == sorted(seg) and seg, "each segment is one name range, in order"
            names += seg
        if step.cursor is None:
            return names, steps
        # It crosses the durable boundary: plain JSON, bounded by max_parts.
        cursor = json.loads(json.dumps(step.cursor))
        assert len(cursor["parts"]) <= max_parts
        assert steps < 500


async def _flat(cc: AsyncContainerClient, prefix: str) -> list[str]:
    out: list[str] = []
    marker = None
    while True:
        blobs, marker = await list_blobs_page(cc, prefix=prefix or None, page_size=7, marker=marker)
        out += [b.name for b in blobs]
        if marker is None:
            return out


@pytest.fixture
def tree(container: ContainerClient) -> ContainerClient:
    for name in TREE:
        container.upload_blob(name, b"x")
    return container


@pytest.mark.parametrize(
    ("root", "page_size", "width", "max_parts"),
    [
        ("", 5, 1, 32),  # width 1: one flat listing
        ("", 5, 8, 32),
        ("", 1000, 8, 32),
        ("", 3, 3, 6),  # "many/" does not fit: listed flat
        ("", 1000, 32, 4),  # the root's folders do not fit: the root is listed flat
        ("a", 2, 8, 32),  # a connection prefix that is not a folder: "a/" and "ab/"
        ("many/", 4, 8, 32),
    ],
)
def test_the_walk_lists_every_blob_once(
    customer_account: EmulatorAccount,
    tree: ContainerClient,
    root: str,
    page_size: int,
    width: int,
    max_parts: int,
) -> None:
    async def both() -> tuple[list[str], list[str]]:
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, tree.container_name
        ) as cc:
            walked, _ = await _walk_all(
                cc, root=root, page_size=page_size, width=width, max_parts=max_parts
            )
            return walked, await _flat(cc, root)

    walked, flat = asyncio.run(both())
    assert len(walked) == len(set(walked)), "no blob is listed twice"
    assert sorted(walked) == sorted(flat)
    assert len(flat) == sum(1 for n in TREE if n.startswith(root))


def test_folders_are_listed_at_once(
    customer_account: EmulatorAccount, tree: ContainerClient
) -> None:
    recorder = _InFlight()

    async def walk() -> tuple[list[str], int]:
        transport = PolicyTransport(AioHttpTransport(), [recorder], owns=True)
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, tree.container_name, transport=transport
        ) as cc:
            return await _walk_all(cc, root="", page_size=5000, width=8, max_parts=32)

    walked, steps = asyncio.run(walk())
    assert sorted(walked) == sorted(TREE)
    assert recorder.most >= 4, f"at most {recorder.most} folder listed at a time"
    # root, then its folders at once, then theirs: far fewer steps than folders listed
    assert steps * 3 <= len(set(recorder.prefixes)), (steps, sorted(set(recorder.prefixes)))
    assert {"a/", "big/", "many/"} <= set(recorder.prefixes)


def test_a_flat_marker_from_an_earlier_run_continues_flat(
    customer_account: EmulatorAccount, tree: ContainerClient
) -> None:
    async def go() -> tuple[list[str], list[str]]:
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, tree.container_name
        ) as cc:
            first, marker = await list_blobs_page(cc, prefix=None, page_size=10, marker=None)
            assert marker is not None
            rest: list[str] = []
            cursor: Any = marker
            while cursor is not None:
                step = await walk_step(cc, cursor, root="", page_size=10, width=8)
                rest += [b.name for s in step.segments for b in s]
                cursor = step.cursor
            return [b.name for b in first], rest

    first, rest = asyncio.run(go())
    assert first + rest == sorted(TREE)


@pytest.mark.parametrize(
    "cursor",
    [
        {},
        {"parts": []},
        {"parts": [{"prefix": "elsewhere/", "level": False, "marker": None}]},
        {"parts": [{"prefix": "", "level": True, "marker": "m"}]},
        {"parts": [{"prefix": 3}]},
    ],
)
def test_a_malformed_cursor_is_refused(
    customer_account: EmulatorAccount, container: ContainerClient, cursor: dict[str, Any]
) -> None:
    async def go() -> None:
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, container.container_name
        ) as cc:
            await walk_step(cc, cursor, root="scoped/", page_size=10, width=8)

    with pytest.raises(ValueError, match="cursor"):
        asyncio.run(go())


@pytest.mark.parametrize(("width", "stop_after"), [(1, 1), (3, 1), (8, 2), (8, 1000)])
def test_a_walk_that_takes_pages_as_they_come_and_stops_loses_nothing(
    customer_account: EmulatorAccount, tree: ContainerClient, width: int, stop_after: int
) -> None:
    """With ``take``, pages are handed over as they arrive and the walk goes on until told to
    stop; the pages already asked for are still handed over, the cursor holds the rest."""

    async def walk() -> tuple[list[str], int]:
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, tree.container_name
        ) as cc:
            names: list[str] = []
            cursor: Any = None
            steps = 0
            while True:
                pages: list[list[str]] = []

                def take(blobs: list[Any], pages: list[list[str]] = pages) -> bool:
                    page = [b.name for b in blobs]
                    assert page == sorted(page)
                    pages.append(page)
                    return len(pages) < stop_after

                step = await walk_step(
                    cc, cursor, root="", page_size=4, width=width, max_parts=10, take=take
                )
                assert step.segments == []  # handed to ``take``, not kept
                steps += 1
                assert len(pages) <= stop_after + width  # stops asking once told to
                names += [n for p in pages for n in p]
                if step.cursor is None:
                    return names, steps
                cursor = json.loads(json.dumps(step.cursor))
                assert len(cursor["parts"]) <= 10

    names, steps = asyncio.run(walk())
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(TREE)
    if stop_after == 1000:
        assert steps == 1  # never told to stop: one step lists everything


async def _seeded_walk(
    cc: AsyncContainerClient,
    seed: list[ShapePart] | None,
    *,
    page_size: int,
    width: int = 8,
    max_parts: int = 32,
) -> tuple[list[str], list[ShapePart] | None]:
    """A whole walk (a seed for its start, if any): the names listed and the shape recorded."""
    names: list[str] = []
    cursor: Any = None
    for _ in range(500):
        step = await walk_step(
            cc,
            cursor,
            root="",
            page_size=page_size,
            width=width,
            max_parts=max_parts,
            seed=seed if cursor is None else None,
        )
        names += [b.name for s in step.segments for b in s]
        if step.cursor is None:
            return names, step.shape
        cursor = json.loads(json.dumps(step.cursor))
        assert len(cursor["parts"]) <= max_parts
    raise AssertionError("the walk does not end")


def test_a_walk_seeded_with_the_last_shape_lists_the_changed_tree_exactly_once(
    customer_account: EmulatorAccount, tree: ContainerClient
) -> None:
    """The shape of one walk starts the next with all its folders at once; whatever changed
    in between (a new blob at the root, a new folder, a new sub-folder, a seeded folder gone,
    a seeded level grown past one page), every blob is listed once and only once."""
    recorder = _InFlight()

    async def go() -> tuple[list[str], list[ShapePart] | None, list[str], list[str], int]:
        transport = PolicyTransport(AioHttpTransport(), [recorder], owns=True)
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, tree.container_name, transport=transport
        ) as cc:
            first, shape = await _seeded_walk(cc, None, page_size=12)
            assert shape is not None
            looks = len(recorder.prefixes)
            recorder.prefixes.clear()
            again, _ = await _seeded_walk(cc, shape, page_size=12)
            seeded_requests = len(recorder.prefixes)
            # the tree changes
            for name in [
                "root-new.jpg",
                "fresh/1.jpg",
                "a/b/new-sub/1.jpg",
                *[f"a/grown-{i}.jpg" for i in range(11)],  # "a/" no longer fits a page
            ]:
                tree.upload_blob(name, b"y")
            for name in [n for n in TREE if n.startswith("many/f03/")] + ["root-z.jpg"]:
                tree.delete_blob(name)  # (the root level still fits its page)
            changed, shape2 = await _seeded_walk(cc, shape, page_size=12)
            assert len(changed) == len(set(changed)), "no blob is listed twice"
            assert sorted(changed) == sorted(b.name for b in tree.list_blobs())
            assert shape2 is not None
            # "a/" outgrew its page: listed flat, and the next walk lists it flat once, without
            # the folders under it that this walk only listed because it was seeded with them.
            assert {"prefix": "a/", "level": False} in shape2
            assert not [p for p in shape2 if p["prefix"].startswith("a/") and p["prefix"] != "a/"]
            for i in range(11):
                tree.delete_blob(f"a/grown-{i}.jpg")
            healed, _ = await _seeded_walk(cc, shape2, page_size=12)
            assert sorted(healed) == sorted(b.name for b in tree.list_blobs())
            assert looks > seeded_requests, (looks, seeded_requests)
            return first, shape, again, changed, seeded_requests

    first, shape, again, changed, _ = asyncio.run(go())
    assert sorted(first) == sorted(TREE) == sorted(again)
    assert len(again) == len(set(again))
    assert shape is not None and valid_seed(shape, "") == shape
    assert {"prefix": "big/", "level": False} in shape  # more than a page: listed flat
    assert {"prefix": "a/", "level": True} in shape
    assert "fresh/1.jpg" in changed and "a/b/new-sub/1.jpg" in changed


def test_the_seeded_folders_are_listed_at_once(
    customer_account: EmulatorAccount, tree: ContainerClient
) -> None:
    recorder = _InFlight()

    async def go() -> list[ShapePart] | None:
        transport = PolicyTransport(AioHttpTransport(), [recorder], owns=True)
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, tree.container_name, transport=transport
        ) as cc:
            _, shape = await _seeded_walk(cc, None, page_size=5000)
            recorder.prefixes.clear()
            recorder.most = 0
            await walk_step(
                cc, None, root="", page_size=5000, width=32, seed=shape, take=lambda b: False
            )
            return shape

    shape = asyncio.run(go())
    assert shape is not None
    # Told to stop at its first page, the step had still sent every seeded folder at once.
    assert sorted(recorder.prefixes) == sorted(p["prefix"] for p in shape)
    assert recorder.most == len(shape)


@pytest.mark.parametrize(
    "seed",
    [
        None,
        [],
        "x",
        [{"prefix": "a/", "level": True}],  # no root
        [{"prefix": "", "level": True}, {"prefix": "a/b/", "level": False}],  # no "a/"
        [{"prefix": "", "level": True}, {"prefix": "", "level": False}],  # twice
        [{"prefix": "", "level": True}, {"prefix": "a", "level": False}],  # not a folder
        [{"prefix": "", "level": True}, {"prefix": "a/", "level": "yes"}],
        [{"prefix": "", "level": False}],  # a flat root: the next walk looks again
        [{"prefix": "", "level": True}, *({"prefix": f"f{i}/", "level": False} for i in range(40))],
    ],
)
def test_a_seed_that_cannot_start_a_walk_is_not_used(seed: Any) -> None:
    assert valid_seed(seed, "") is None


def test_a_seed_under_a_connection_prefix() -> None:
    seed = [
        {"prefix": "data/", "level": True},
        {"prefix": "data/a/", "level": True},
        {"prefix": "data/a/b/", "level": False},
    ]
    assert valid_seed(seed, "data/") == seed
    assert valid_seed(seed, "other/") is None
    # a folder listed flat covers the folders under it: they are left out
    covered = [*seed, {"prefix": "data/a/b/c/", "level": False}]
    assert (
        valid_seed(
            [{**p, "level": False} if p["prefix"] == "data/a/b/" else p for p in covered], "data/"
        )
        == seed
    )
    # a root that is not a folder: its sub-folders are found directly in it
    assert valid_seed([{"prefix": "a", "level": True}, {"prefix": "ab/", "level": False}], "a")


def test_at_most_half_the_width_of_flat_listings_are_on_the_wire(
    customer_account: EmulatorAccount, container: ContainerClient
) -> None:
    """Flat parts come back as full pages: half the width of them at most (the looks at levels
    still go out), so a wide walk over big folders holds a bounded number of pages."""
    for f in range(6):
        for i in range(7):
            container.upload_blob(f"big{f}/{i}.jpg", b"x")
    recorder = _InFlight()

    async def go() -> list[str]:
        transport = PolicyTransport(AioHttpTransport(), [recorder], owns=True)
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, container.container_name, transport=transport
        ) as cc:
            first, shape = await _seeded_walk(cc, None, page_size=6, width=4)
            assert shape is not None and sum(not p["level"] for p in shape) == 6
            recorder.flat_most = 0
            again, _ = await _seeded_walk(cc, shape, page_size=6, width=4)
            assert sorted(again) == sorted(first)
            return again

    names = asyncio.run(go())
    assert len(names) == 42
    assert recorder.flat_most == 2
