"""Wizard step 6, *Preview*: what a sync of the connection would find, without reading blobs.

Files are counted by kind from their extension only (the listing gives names and sizes; the
format checks that may skip a file happen during the sync). The scan is bounded by a blob count
(``PREVIEW_MAX_BLOBS``) and a time budget (``PREVIEW_TIME_BUDGET_SECONDS``) so that it answers
well inside the 230-second HTTP limit on a huge container; a bounded answer says "at least N"
(``complete: false``). The sample holds the first paths and a spread through the listing
(systematic sampling whose stride doubles as the listing grows: constant memory).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypedDict

from azure.core.exceptions import AzureError

from shared.customer_storage import (
    CustomerStorage,
    RetryProfile,
    StorageFailure,
    StorageFault,
    classify_error,
)
from shared.errors import ConflictError, UpstreamError
from shared.inspection.formats import claimed_kind
from shared.inspection.model import Kind
from shared.naming import require_connection_id
from shared.settings import Settings
from shared.store._common import iso, utcnow
from shared.store.connections import Connection, ConnectionRepository, ConnectionState
from shared.store.orgs import Organization, OrganizationRepository
from shared.store.usage import UsageRepository, month_of

__all__ = [
    "MediaKind",
    "PreviewReport",
    "ScanResult",
    "kind_of",
    "preview_connection",
    "scan_listing",
]

FIRST_SAMPLE = 10
SPREAD_SAMPLE = 10

#: The preview's kinds are the inspection's (by name: the preview reads no content).
MediaKind = Kind


def kind_of(name: str) -> Kind:
    """The kind a blob name suggests, from its extension (case-insensitive), with the same
    extension lists the inspection uses for what a blob claims to be."""
    return claimed_kind(name)


class BlobLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...


class SampleItem(TypedDict):
    name: str
    kind: str
    size: int


@dataclass
class _Spread:
    """Every ``stride``-th item, the stride doubling whenever the buffer fills."""

    size: int
    stride: int = 1
    items: list[tuple[int, SampleItem]] = field(default_factory=list)

    def offer(self, index: int, item: SampleItem) -> None:
        if index % self.stride:
            return
        self.items.append((index, item))
        if len(self.items) >= 2 * self.size:
            self.items = self.items[::2]
            self.stride *= 2

    def pick(self) -> list[SampleItem]:
        if len(self.items) <= self.size:
            return [item for _, item in self.items]
        step = len(self.items) / self.size
        return [self.items[int(i * step)][1] for i in range(self.size)]


@dataclass(frozen=True)
class ScanResult:
    counts: dict[MediaKind, int]
    scanned: int
    complete: bool
    stopped_by: str | None
    first: list[SampleItem]
    spread: list[SampleItem]


async def scan_listing(
    pages: AsyncIterable[AsyncIterable[BlobLike]],
    *,
    max_blobs: int,
    time_budget: float,
    clock: Callable[[], float] = time.monotonic,
) -> ScanResult:
    """Count blobs by kind over listing ``pages`` (``ContainerClient.list_blobs().by_page()``)
    until the listing ends, ``max_blobs`` are counted, or ``time_budget`` seconds have passed
    (checked before each next page)."""
    started = clock()
    counts = dict.fromkeys(MediaKind, 0)
    first: list[SampleItem] = []
    spread = _Spread(SPREAD_SAMPLE)
    scanned = 0
    stopped_by: str | None = None
    iterator = aiter(pages)
    while True:
        if scanned and clock() - started >= time_budget:
            stopped_by = "time_budget"
            break
        page = await anext(iterator, None)
        if page is None:
            break
        async for blob in page:
            if scanned >= max_blobs:
                stopped_by = "max_blobs"
                break
            kind = kind_of(blob.name)
            counts[kind] += 1
            item = SampleItem(name=blob.name, kind=kind.value, size=int(blob.size or 0))
            if scanned < FIRST_SAMPLE:
                first.append(item)
            else:
                spread.offer(scanned - FIRST_SAMPLE, item)
            scanned += 1
        if stopped_by:
            break
    return ScanResult(counts, scanned, stopped_by is None, stopped_by, first, spread.pick())


class PreviewCounts(TypedDict):
    image: int
    video: int
    other: int
    total: int


class PreviewDataRows(TypedDict):
    perImage: int
    perVideo: int
    estimated: int
    #: True when the scan stopped early: the sync will cost at least this much.
    isLowerBound: bool


class PreviewQuota(TypedDict):
    month: str
    used: int
    limit: int
    remaining: int
    #: Whether the remaining quota covers the estimate; null when the scan stopped early and
    #: the part counted so far fits (the rest is unknown).
    sufficient: bool | None


class PreviewLimits(TypedDict):
    maxBlobs: int
    timeBudgetSeconds: int


class PreviewReport(TypedDict):
    connectionId: str
    generatedAt: str
    account: str
    container: str
    prefix: str
    complete: bool
    stoppedBy: str | None
    scanned: int
    summary: str
    counts: PreviewCounts
    classifiedBy: str
    note: str
    sample: list[SampleItem]
    dataRows: PreviewDataRows
    quota: PreviewQuota
    limits: PreviewLimits


_NOTE = (
    "Counted by file extension only: the preview does not read blob contents. During the sync "
    "each image and video is checked (EXIF orientation, MP4 brand and pixel format); files "
    "that fail are skipped with a reason and cost no data rows. Files other than images and "
    "videos are ignored. Assets already synced by an earlier run are not charged again."
)


def _summary(result: ScanResult) -> str:
    c = result.counts
    lead = "" if result.complete else "at least "
    return (
        f"{lead}{result.scanned:,} file(s): {c[MediaKind.IMAGE]:,} image(s), "
        f"{c[MediaKind.VIDEO]:,} video(s), {c[MediaKind.OTHER]:,} other"
    )


_UPSTREAM: dict[StorageFault, tuple[str, str, int | None]] = {
    StorageFault.CONTAINER_NOT_FOUND: (
        "container_not_found",
        "The container does not exist; check its name.",
        None,
    ),
    StorageFault.PERMISSION_DENIED: (
        "role_missing_or_propagating",
        "Listing was refused; run the connection test for the fix (a new role assignment "
        "can take five minutes to apply).",
        60,
    ),
    StorageFault.NETWORK_RULES: (
        "firewall_blocked",
        "The storage account's firewall refuses the platform; run the connection test.",
        None,
    ),
    StorageFault.ACCOUNT_NOT_FOUND: (
        "storage_account_not_found",
        "The storage account does not exist; check its name.",
        None,
    ),
    StorageFault.TOKEN_UNAVAILABLE: (
        "identity_failed",
        "The platform app could not sign in to your tenant; run the connection test.",
        None,
    ),
}


def _upstream(failure: StorageFailure) -> UpstreamError:
    code, detail, retry_after = _UPSTREAM.get(
        failure.fault,
        ("storage_unavailable", "The storage account could not be listed; try again.", 30)
        if failure.retryable
        else ("customer_storage_error", "The storage account refused the listing.", None),
    )
    return UpstreamError(
        detail, code=code, retry_after=retry_after, extra={"fault": failure.fault.value}
    )


async def preview_connection(
    org_id: str,
    connection_id: str,
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
    usage: UsageRepository,
    storage: CustomerStorage,
    settings: Settings,
    page_size: int = 5000,
    clock: Callable[[], float] = time.monotonic,
    now: datetime | None = None,
) -> PreviewReport:
    """``POST .../preview``: bounded scan of the prefix, counts, sample and the quota cost.

    The customer's storage refusing the listing is a 424 problem naming the cause. The table
    repositories block, so they run in a worker thread; the scan runs on the event loop."""
    org, connection = await asyncio.to_thread(_load, org_id, connection_id, orgs, connections)
    now = now or utcnow()
    async with storage.container_client(
        connection.account, connection.container, profile=RetryProfile.INTERACTIVE
    ) as client:
        try:
            result = await scan_listing(
                client.list_blobs(
                    name_starts_with=connection.prefix or None, results_per_page=page_size
                ).by_page(),
                max_blobs=settings.preview_max_blobs,
                time_budget=settings.preview_time_budget_seconds,
                clock=clock,
            )
        except AzureError as exc:
            raise _upstream(classify_error(exc, emulator=storage.emulator)) from None
    month = month_of(now)
    used = await asyncio.to_thread(_record, connections, connection, result, usage, org, month)
    images, videos = result.counts[MediaKind.IMAGE], result.counts[MediaKind.VIDEO]
    rows = images * settings.data_rows_per_image + videos * settings.data_rows_per_video
    remaining = max(0, org.monthly_quota - used)
    sufficient: bool | None = rows <= remaining
    if not result.complete and sufficient:
        sufficient = None
    return PreviewReport(
        connectionId=connection.connection_id,
        generatedAt=iso(now),
        account=connection.account,
        container=connection.container,
        prefix=connection.prefix,
        complete=result.complete,
        stoppedBy=result.stopped_by,
        scanned=result.scanned,
        summary=_summary(result),
        counts=PreviewCounts(
            image=images,
            video=videos,
            other=result.counts[MediaKind.OTHER],
            total=result.scanned,
        ),
        classifiedBy="extension",
        note=_NOTE,
        sample=result.first + result.spread,
        dataRows=PreviewDataRows(
            perImage=settings.data_rows_per_image,
            perVideo=settings.data_rows_per_video,
            estimated=rows,
            isLowerBound=not result.complete,
        ),
        quota=PreviewQuota(
            month=month,
            used=used,
            limit=org.monthly_quota,
            remaining=remaining,
            sufficient=sufficient,
        ),
        limits=PreviewLimits(
            maxBlobs=settings.preview_max_blobs,
            timeBudgetSeconds=settings.preview_time_budget_seconds,
        ),
    )


def _load(
    org_id: str,
    connection_id: str,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
) -> tuple[Organization, Connection]:
    """The organisation and the connection to preview (not one being removed)."""
    org = orgs.require(org_id)
    require_connection_id(connection_id)
    connection = connections.get(org_id, connection_id)
    if connection.state is ConnectionState.DELETING:
        raise ConflictError("this connection is being removed", code="connection_deleting")
    return org, connection


def _record(
    connections: ConnectionRepository,
    connection: Connection,
    result: ScanResult,
    usage: UsageRepository,
    org: Organization,
    month: str,
) -> int:
    """Store the scanned total on the connection; return the organisation's usage this month."""
    connections.record_preview(connection, result.scanned)
    return usage.used(org.org_id, month)
