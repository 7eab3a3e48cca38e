"""Inspection of real blobs in Azurite through ``azure.storage.blob.aio``.

Every HTTP request is counted below the SDK by a transport wrapper (storage clients ignore
azure-core's ``per_call_policies``; the transport is the seam they honour), and compared with the
reader's own counters and the verdict's recorded cost.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient

import mediagen as mg
from devhost.azurite import EmulatorAccount
from shared.inspection import BlobRef, MemoryReader, ReadError, Verdict, inspect_blob
from shared.inspection.blob_reader import BlobRangeReader
from tests.inspection.conftest import Corpus
from tests.inspection.test_verdicts import assert_matches

KIB = 1024
IN_FLIGHT = 16


@dataclass
class Wire:
    requests: int = 0
    bytes: int = 0


class CountingTransport(AioHttpTransport):
    """Counts each blob GET (and its body bytes) as it goes over the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.per_blob: dict[str, Wire] = defaultdict(Wire)
        self.other_requests = 0

    async def send(self, request: Any, **kwargs: Any) -> Any:
        response = await super().send(request, **kwargs)
        parts = urlsplit(request.url)
        segments = parts.path.lstrip("/").split("/", 2)  # account / container / blob
        if request.method == "GET" and len(segments) == 3 and "comp=" not in parts.query:
            wire = self.per_blob[unquote(segments[2])]
            wire.requests += 1
            wire.bytes += int(response.headers.get("Content-Length", "0"))
        else:
            self.other_requests += 1
        return response


@dataclass(frozen=True)
class Row:
    ref: BlobRef
    verdict: Verdict
    reader_requests: int
    reader_bytes: int


async def upload(
    account: EmulatorAccount, container: str, blobs: list[tuple[str, bytes, str | None]]
) -> None:
    async with BlobServiceClient.from_connection_string(account.connection_string) as service:
        client = await service.create_container(container)
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def put(name: str, data: bytes, content_type: str | None) -> None:
            settings = ContentSettings(content_type=content_type) if content_type else None
            async with gate:
                await client.upload_blob(name, data, overwrite=True, content_settings=settings)

        await asyncio.gather(*(put(*blob) for blob in blobs))


async def inspect_container(
    account: EmulatorAccount, container: str
) -> tuple[list[Row], CountingTransport]:
    transport = CountingTransport()
    async with BlobServiceClient.from_connection_string(
        account.connection_string, transport=transport
    ) as service:
        client = service.get_container_client(container)
        refs = [
            BlobRef(b.name, b.size, b.content_settings.content_type, b.etag, b.last_modified)
            async for b in client.list_blobs()
        ]
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(ref: BlobRef) -> Row:
            async with gate:
                reader = BlobRangeReader(client, ref.name, ref.size, etag=ref.etag)
                verdict = await inspect_blob(ref, reader)
                return Row(ref, verdict, reader.requests, reader.bytes_read)

        rows = await asyncio.gather(*(one(ref) for ref in refs))
    return list(rows), transport


def averages(rows: list[Row]) -> tuple[float, float]:
    """Mean requests and bytes per blob."""
    return (
        sum(r.verdict.cost.requests for r in rows) / len(rows),
        sum(r.verdict.cost.bytes_read for r in rows) / len(rows),
    )


def test_inspecting_blobs_in_azurite_reads_only_what_it_needs(
    customer_account: EmulatorAccount, unique_name: str, corpus: Corpus
) -> None:
    fixtures = corpus.all()
    realistic = mg.mixed_set(60, seed=2024)
    blobs = [(fx.name, fx.data, fx.content_type) for fx in fixtures]
    blobs += [(f"realistic/{name}", data, None) for name, data in realistic]
    data_by_name = {name: data for name, data, _ in blobs}

    asyncio.run(upload(customer_account, unique_name, blobs))
    rows, transport = asyncio.run(inspect_container(customer_account, unique_name))

    # Every blob listed back under its exact name (spaces, unicode, '#', '?', '%').
    assert sorted(row.ref.name for row in rows) == sorted(data_by_name)
    for row in rows:
        wire = transport.per_blob.get(row.ref.name, Wire())
        # The transport proves the counters honest, and the verdict records the same figures.
        assert (wire.requests, wire.bytes) == (row.reader_requests, row.reader_bytes), row.ref.name
        assert (row.verdict.cost.requests, row.verdict.cost.bytes_read) == (
            wire.requests,
            wire.bytes,
        )
        # Same decision over HTTP as over bytes in memory.
        data = data_by_name[row.ref.name]
        local = asyncio.run(
            inspect_blob(
                BlobRef(row.ref.name, len(data), row.ref.content_type, row.ref.etag),
                MemoryReader(data),
            )
        )
        assert row.verdict == local
    truths = {fx.name: corpus.truth(fx.name) for fx in fixtures}
    for row in rows:
        if row.ref.name in truths:
            assert_matches(row.verdict, truths[row.ref.name])

    images = [r for r in rows if r.verdict.kind.value == "image" and r.ref.size > 0]
    big_mp4s = [r for r in rows if r.verdict.format == "mp4" and r.ref.size > 2_000_000]
    videos = [r for r in rows if r.verdict.kind.value == "video" and r.ref.size > 0]
    realistic_images = [r for r in images if r.ref.name.startswith("realistic/")]
    avg_requests, avg_bytes = averages(images)
    real_requests, real_bytes = averages(realistic_images)
    fallbacks = [r for r in rows if r.verdict.cost.used_fallback]
    print(
        f"\n[inspection over Azurite] {len(rows)} blobs, {len(images)} images: "
        f"{avg_requests:.3f} requests and {avg_bytes / KIB:.1f} KiB per image "
        f"(realistic set, {len(realistic_images)} images of "
        f"{sum(r.ref.size for r in realistic_images) / len(realistic_images) / KIB:.0f} KiB: "
        f"{real_requests:.3f} requests, {real_bytes / KIB:.1f} KiB); "
        f"{len(big_mp4s)} MP4s > 2 MB: "
        + ", ".join(
            f"{r.verdict.cost.requests} req/{100 * r.verdict.cost.bytes_read / r.ref.size:.2f}%"
            for r in big_mp4s
        )
        + f"; PyAV fallback {len(fallbacks)}/{len(videos)} videos "
        f"({100 * len(fallbacks) / len(videos):.1f}%), {len(fallbacks)}/{len(rows)} blobs: "
        + ", ".join(r.ref.name for r in fallbacks)
    )
    assert len(images) >= 60 and len(realistic_images) >= 30
    for requests, nbytes in ((avg_requests, avg_bytes), (real_requests, real_bytes)):
        assert requests <= 1.3
        assert nbytes <= 96 * KIB
    assert len(big_mp4s) >= 4
    for row in big_mp4s:
        assert row.verdict.accepted
        assert row.verdict.cost.requests <= 4
        assert row.verdict.cost.bytes_read <= 0.02 * row.ref.size
    assert len(fallbacks) <= 0.1 * len(videos)


async def _read_with_stale_or_missing(account: EmulatorAccount, container: str) -> list[ReadError]:
    original = mg.jpeg(orientation=6)
    await upload(account, container, [("a.jpg", original, None)])
    errors = []
    async with BlobServiceClient.from_connection_string(account.connection_string) as service:
        client = service.get_container_client(container)
        (listed,) = [b async for b in client.list_blobs()]
        await client.upload_blob("a.jpg", mg.jpeg(orientation=1), overwrite=True)
        for name, etag in (("a.jpg", listed.etag), ("gone.jpg", None)):
            reader = BlobRangeReader(client, name, listed.size, etag=etag)
            with pytest.raises(ReadError) as caught:
                await inspect_blob(BlobRef(name, listed.size, etag=etag), reader)
            errors.append(caught.value)
    return errors


def test_a_blob_replaced_after_listing_or_gone_is_a_read_error_not_a_verdict(
    customer_account: EmulatorAccount, unique_name: str
) -> None:
    changed, missing = asyncio.run(_read_with_stale_or_missing(customer_account, unique_name))
    assert (changed.status, changed.changed, changed.missing) == (412, True, False)
    assert (missing.status, missing.changed, missing.missing) == (404, False, True)
    for error in (changed, missing):
        assert "http" not in str(error).lower() and "sig=" not in str(error)
