"""Baselines measured on the same container as the service:

- ``raw_listing``: the SDK's ``list_blobs`` alone (pages of 5,000): the floor of any re-sync.
- ``raw_floor``: a minimal async loop: list, one 64 KiB ranged GET per blob (16 in flight),
  batched upserts (≤ 100 per partition, 4 in flight): the floor of a first sync that reads.
- ``served_listing``: the List Blobs pages fetched one after another over plain HTTP, each body
  read whole and searched only for its next marker: what the storage itself takes to serve the
  listing. No re-sync can take less (each must see every page), so it bounds what a ratio
  against the other listings can reach.
- ``rclone_listing``: ``rclone lsjson -R`` (Debian's package; Go) on the same container: a
  Go-speed listing reference. The benchmark installs it with apt-get when it runs as root; when
  rclone is unavailable the baseline is skipped with a note.
- ``naive``: what a simple importer does: download each blob whole, open and decode it with
  Pillow (the whole image) or PyAV (the first video frame), upsert one entity at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.data.tables import TableServiceClient, UpdateMode
from azure.data.tables.aio import TableServiceClient as AsyncTableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient

__all__ = [
    "RAW_LISTING",
    "RCLONE_LISTING",
    "SERVED_LISTING",
    "BaselineResult",
    "ensure_rclone",
    "naive",
    "raw_floor",
    "raw_listing",
    "rclone_listing",
    "served_listing",
]


#: The listing baselines' names (as reported).
RAW_LISTING = "raw listing (SDK)"
RCLONE_LISTING = "rclone lsjson -R (Go)"
SERVED_LISTING = "List Blobs pages served"


@dataclass(frozen=True)
class BaselineResult:
    name: str
    blobs: int
    seconds: float
    bytes_read: int
    requests: int

    @property
    def rate(self) -> float:
        return self.blobs / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "blobs": self.blobs,
            "seconds": round(self.seconds, 3),
            "assetsPerSecond": round(self.rate, 1),
            "bytesRead": self.bytes_read,
            "requests": self.requests,
        }


def raw_listing(connection_string: str, container: str) -> BaselineResult:
    client = BlobServiceClient.from_connection_string(connection_string)
    cc = client.get_container_client(container)
    start = time.perf_counter()
    count = pages = 0
    for page in cc.list_blobs(results_per_page=5000).by_page():
        pages += 1
        count += sum(1 for _ in page)
    return BaselineResult(RAW_LISTING, count, time.perf_counter() - start, 0, pages)


def _container_sas_url(connection_string: str, container: str) -> str:
    """A read-and-list SAS URL of the container (one hour). It is only handed to a baseline,
    never printed or written to the report."""
    fields = _connection_fields(connection_string)
    sas = generate_container_sas(
        fields["AccountName"],
        container,
        account_key=fields["AccountKey"],
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return f"{fields['BlobEndpoint']}/{container}?{sas}"


_NEXT_MARKER = re.compile(rb"<NextMarker>([^<]*)</NextMarker>")
_BLOB_OPEN = b"<Blob>"


def served_listing(connection_string: str, container: str) -> BaselineResult:
    """The container's List Blobs pages (5,000 a page) fetched in turn over one HTTP
    connection, each body read whole and searched only for its next marker."""
    url = urllib.parse.urlsplit(_container_sas_url(connection_string, container))
    opener = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = opener(url.hostname or "", url.port, timeout=120)
    base = f"{url.path}?restype=container&comp=list&maxresults=5000&{url.query}"
    start = time.perf_counter()
    count = pages = 0
    marker = b""
    try:
        while True:
            path = base + (f"&marker={urllib.parse.quote(marker.decode())}" if marker else "")
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"List Blobs answered {response.status}")
            pages += 1
            count += body.count(_BLOB_OPEN)
            found = _NEXT_MARKER.search(body)
            marker = found[1] if found else b""
            if not marker:
                break
    finally:
        conn.close()
    return BaselineResult(SERVED_LISTING, count, time.perf_counter() - start, 0, pages)


def ensure_rclone() -> str | None:
    """The rclone binary, installed from Debian's package when missing and running as root;
    None (with the reason printed) when it cannot be had."""
    found = shutil.which("rclone")
    if found:
        return found
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        print("rclone baseline skipped: rclone is not installed (apt-get install rclone)")
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "rclone"],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"rclone baseline skipped: {' '.join(cmd[:2])} failed")
            return None
    return shutil.which("rclone")


def _connection_fields(connection_string: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part and part)


def rclone_listing(connection_string: str, container: str) -> BaselineResult | None:
    """``rclone lsjson -R`` of the container (recursive listing, Go), or None without rclone."""
    binary = ensure_rclone()
    if binary is None:
        return None
    # rclone 1.60 builds an account's host name from an endpoint *suffix*, which cannot name
    # the emulator's path-style URL; a container SAS URL (list and read, one hour) can. It goes
    # to rclone through its environment only, never to the report.
    env = {
        **os.environ,
        "RCLONE_CONFIG_BENCH_TYPE": "azureblob",
        "RCLONE_CONFIG_BENCH_SAS_URL": _container_sas_url(connection_string, container),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [binary, "--config", "/dev/null", "lsjson", "-R", "--files-only", f"bench:{container}"],
        env=env,
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(f"rclone baseline skipped: rclone exited {done.returncode}")
        return None
    count = len(json.loads(done.stdout))
    return BaselineResult(RCLONE_LISTING, count, seconds, 0, 0)


def _pk(name: str) -> str:
    return "p%02x" % (hashlib.md5(name.encode(), usedforsecurity=False).digest()[0] % 16)


def _rk(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


async def _raw_floor(blob_cs: str, table_cs: str, container: str, table: str) -> BaselineResult:
    start = time.perf_counter()
    bytes_read = requests = 0
    async with (
        AsyncBlobServiceClient.from_connection_string(blob_cs) as blobs,
        AsyncTableServiceClient.from_connection_string(table_cs) as tables,
    ):
        cc = blobs.get_container_client(container)
        tc = await tables.create_table_if_not_exists(table)
        gate = asyncio.Semaphore(16)
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        names: list[tuple[str, int]] = []
        async for blob in cc.list_blobs(results_per_page=5000):
            names.append((blob.name, int(blob.size or 0)))
        requests += max(1, len(names) // 5000 + 1)

        async def head(name: str, size: int) -> None:
            nonlocal bytes_read, requests
            async with gate:
                if size:
                    data = await (
                        await cc.download_blob(name, offset=0, length=min(size, 65536))
                    ).readall()
                    bytes_read += len(data)
                    requests += 1
            rows[_pk(name)].append(
                {"PartitionKey": _pk(name), "RowKey": _rk(name), "name": name, "size": size}
            )

        await asyncio.gather(*(head(n, s) for n, s in names))
        tgate = asyncio.Semaphore(4)

        async def submit(batch: list[dict[str, Any]]) -> None:
            nonlocal requests
            async with tgate:
                await tc.submit_transaction(
                    [("upsert", r, {"mode": UpdateMode.MERGE}) for r in batch]
                )
                requests += 1

        await asyncio.gather(
            *(submit(part[i : i + 100]) for part in rows.values() for i in range(0, len(part), 100))
        )
        await tables.delete_table(table)
    return BaselineResult(
        "raw floor (list + 64 KiB GET + batched upserts)",
        len(names),
        time.perf_counter() - start,
        bytes_read,
        requests,
    )


def raw_floor(blob_cs: str, table_cs: str, container: str, table: str) -> BaselineResult:
    return asyncio.run(_raw_floor(blob_cs, table_cs, container, table))


def _open_media(data: bytes) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.getexif().get(0x0112)
            img.load()  # a simple importer decodes what it validates (thumbnails, checks)
        return
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as media:
            streams = media.streams.video
            if streams:
                next(media.decode(streams[0]), None)
    except (av.error.FFmpegError, StopIteration, ValueError, OSError):
        pass


def naive(
    blob_cs: str, table_cs: str, container: str, table: str, limit: int | None = None
) -> BaselineResult:
    """Whole downloads, full parse, one upsert per entity (sequential, like a simple importer)."""
    blobs = BlobServiceClient.from_connection_string(blob_cs)
    tables = TableServiceClient.from_connection_string(table_cs)
    tc = tables.create_table_if_not_exists(table)
    cc = blobs.get_container_client(container)
    start = time.perf_counter()
    count = bytes_read = requests = 0
    for blob in cc.list_blobs(results_per_page=5000):
        if limit is not None and count >= limit:
            break
        data = cc.download_blob(blob.name).readall()
        bytes_read += len(data)
        requests += 2
        _open_media(data)
        tc.upsert_entity(
            {
                "PartitionKey": _pk(blob.name),
                "RowKey": _rk(blob.name),
                "name": blob.name,
                "size": len(data),
            }
        )
        count += 1
    seconds = time.perf_counter() - start
    tables.delete_table(table)
    return BaselineResult(
        "naive (whole download + decode + single upserts)", count, seconds, bytes_read, requests
    )
