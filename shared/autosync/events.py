"""Blob events from Event Grid (Event Grid schema or CloudEvents 1.0) for one connection.

Trust: the URL names the connection and the ``X-Blobsync-Event-Key`` header authenticates the
delivery (SHA-256 of the key compared in constant time). Nothing in an event says which
connection it is for: an event counts only if its subject names the connection's container and
a blob under its prefix (and its topic, when present, the connection's storage account);
everything else is ignored.

The rule that makes duplicates, reordering and concurrent full runs safe: **an event is a hint
to reconcile one blob with its current state.** For each blob named in a batch, the newest
event (highest ``data.sequencer``, compared as zero-padded hex) is kept; if the blob's row
already carries an equal or newer sequencer the event is stale and dropped. Otherwise the blob's
current properties are read: if it exists, the row is brought to its current etag (inspected
with ranged reads unless the row already holds that etag); if it is gone, the row (if any)
becomes ``removed``. The row is written with ``If-Match`` on the row's ETag (or create-only), and
records the sequencer it applied, so two deliveries racing on one blob serialise and a late
event never overwrites newer state.

Events that arrive while a full run holds the connection are queued durably (not lost) and
applied when the run ends, after every write of the run: a run's write (from a listing taken
before the event) can then never land after the event's, and an asset is never charged by
both. A full run's own writes are always the blob's state at the etag it listed (its reads are
conditional on that etag).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, UpdateMode
from azure.data.tables.aio import TableClient as AsyncTableClient
from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

from shared.asset_keys import partition_key, row_key
from shared.autosync.store import AutosyncRepository, hash_key
from shared.errors import DomainError, FieldError, PayloadTooLargeError, ValidationError
from shared.reasons import Reason
from shared.store import Connection, ConnectionRepository
from shared.store._common import as_int, writable
from shared.store.assets import AssetStatus
from shared.store.connections import until_unchanged
from shared.store.staging import StagedEntry
from shared.sync.steps import RETRY_REASONS, Inspector

__all__ = [
    "BlobEvent",
    "EventAuthError",
    "EventBatch",
    "apply_queued",
    "check_event_key",
    "handle_delivery",
    "parse_deliveries",
    "reconcile_names",
]

_log = logging.getLogger(__name__)

CREATED = "Microsoft.Storage.BlobCreated"
DELETED = "Microsoft.Storage.BlobDeleted"
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
KEY_HEADER = "X-Blobsync-Event-Key"
#: Event Grid batches are at most 1 MB (preferred batch size ≤ 1024 KB); leave headroom.
MAX_DELIVERY_BYTES = 4 * 1024 * 1024
_SUBJECT_PREFIX = "/blobServices/default/containers/"


class EventAuthError(DomainError):
    status: ClassVar[int] = 401
    default_code: ClassVar[str] = "event_key_invalid"
    title: ClassVar[str] = "The event delivery is not authenticated"


@dataclass(frozen=True)
class BlobEvent:
    id: str
    type: str
    subject: str
    topic: str
    sequencer: str
    etag: str


@dataclass(frozen=True)
class EventBatch:
    events: list[BlobEvent]
    #: Event Grid's subscription validation code (Event Grid schema handshake), if any.
    validation_code: str | None = None


def _bad(message: str) -> ValidationError:
    return ValidationError([FieldError("body", "invalid_event", message)])


def _event(item: Any, cloud: bool) -> BlobEvent:
    if not isinstance(item, dict):
        raise _bad("every event must be a JSON object")
    raw = item.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = item.get("type") if cloud else item.get("eventType")
    ident = item.get("id")
    if not isinstance(kind, str) or not isinstance(ident, str) or not ident:
        raise _bad("every event needs an id and a type")
    return BlobEvent(
        id=ident,
        type=kind,
        subject=str(item.get("subject") or ""),
        topic=str((item.get("source") if cloud else item.get("topic")) or ""),
        sequencer=str(data.get("sequencer") or ""),
        etag=str(data.get("eTag") or data.get("etag") or "").strip('"'),
    )


def parse_deliveries(body: bytes, content_type: str) -> EventBatch:
    """Event Grid schema (a JSON array), a CloudEvent, or a CloudEvents batch."""
    if len(body) > MAX_DELIVERY_BYTES:
        raise PayloadTooLargeError(f"a delivery may be at most {MAX_DELIVERY_BYTES} bytes")
    try:
        value = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _bad("the body is not valid JSON") from None
    ctype = content_type.split(";", 1)[0].strip().lower()
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > 5000:
        raise _bad("a delivery holds 1 to 5000 events")
    cloud = ctype.startswith("application/cloudevents") or (
        isinstance(items[0], dict) and "specversion" in items[0]
    )
    if not cloud and not isinstance(value, list):
        raise _bad("an Event Grid schema delivery is a JSON array")
    events = [_event(item, cloud) for item in items]
    for item, ev in zip(items, events, strict=True):
        if ev.type == VALIDATION:
            code = (item.get("data") or {}).get("validationCode")
            if not isinstance(code, str) or not code:
                raise _bad("the validation event has no validationCode")
            return EventBatch([], code)
    return EventBatch(events)


def check_event_key(presented: str | None, stored_hash: str) -> None:
    """Constant-time comparison of the delivery's key with the stored hash (401 otherwise)."""
    if not stored_hash or not presented:
        raise EventAuthError("the event key is missing or wrong")
    if not hmac.compare_digest(hash_key(presented), stored_hash):
        raise EventAuthError("the event key is missing or wrong")


def blob_name_in_scope(
    event: BlobEvent, *, account: str, container: str, prefix: str
) -> str | None:
    """The blob name if the event is a blob event of this connection's scope, else None."""
    if event.type not in (CREATED, DELETED):
        return None
    marker = f"{_SUBJECT_PREFIX}{container}/blobs/"
    if not event.subject.startswith(marker):
        return None
    name = event.subject[len(marker) :]
    if not name or not name.startswith(prefix):
        return None
    topic = event.topic
    if (
        "/storageAccounts/" in topic
        and topic.rsplit("/storageAccounts/", 1)[1].split("/", 1)[0].lower() != account
    ):
        return None
    return name


def _seq_key(sequencer: str) -> str:
    return sequencer.lower().rjust(64, "0")


@dataclass
class _Plan:
    name: str
    sequencer: str  # "" for a re-check (no ordering)
    event_id: str
    prev: dict[str, Any] | None
    row: dict[str, Any] | None = None  # full row to write (REPLACE), or None
    merge: dict[str, Any] | None = None  # properties to merge, or None
    outcome: str = "unchanged"
    kind: str = ""


def _unchanged(prev: Mapping[str, Any] | None, etag: str, size: int) -> bool:
    if prev is None or str(prev.get("etag") or "") != etag or as_int(prev.get("size")) != size:
        return False
    status = prev.get("status")
    if status == AssetStatus.REMOVED.value:
        return False
    return not (status == AssetStatus.SKIPPED.value and prev.get("reason") in RETRY_REASONS)


async def _plan_one(
    plan: _Plan, *, container: AsyncContainerClient, inspector: Inspector, now: datetime
) -> None:
    prev = plan.prev
    try:
        props = await container.get_blob_client(plan.name).get_blob_properties()
    except ResourceNotFoundError:
        props = None
    stamp = {"sequencer": plan.sequencer} if plan.sequencer else {}
    if props is None:
        if prev is None:
            plan.outcome = "absent"
        elif prev.get("status") == AssetStatus.REMOVED.value:
            plan.outcome = "unchanged"
            plan.merge = stamp or None
        else:
            plan.outcome = "removed"
            plan.merge = {
                "status": AssetStatus.REMOVED.value,
                "removedAt": now,
                "lastRunId": f"event:{plan.event_id}",
                **stamp,
            }
        return
    etag = str(props.etag or "").strip('"')
    size = int(props.size or 0)
    if _unchanged(prev, etag, size):
        plan.outcome = "unchanged"
        plan.merge = stamp or None
        return
    settings = props.content_settings
    entry = StagedEntry(
        name=plan.name,
        etag=etag,
        size=size,
        content_type=settings.content_type if settings else None,
        last_modified=props.last_modified.isoformat() if props.last_modified else None,
        previous=AssetStatus(prev["status"]) if prev else None,
    )
    inspected = await inspector(entry, container)
    if inspected.row is None:  # changed again while we read: a newer event follows
        plan.outcome = "superseded"
        return
    plan.kind = inspected.kind
    plan.row = {
        **inspected.row,
        "lastRunId": f"event:{plan.event_id}",
        "updatedAt": now,
        **stamp,
    }
    plan.outcome = inspected.status.value


async def _write(plan: _Plan, *, assets: AsyncTableClient, connection_id: str) -> bool:
    """Write the plan with optimistic concurrency; False if the row moved on under us."""
    pk, rk = partition_key(connection_id, plan.name), row_key(plan.name)
    prev_etag = plan.prev.metadata["etag"] if plan.prev is not None else None  # type: ignore[attr-defined]
    try:
        if plan.row is not None:
            row = writable({**plan.row, "PartitionKey": pk, "RowKey": rk})
            if prev_etag is None:
                await assets.create_entity(row)
            else:
                await assets.update_entity(
                    row,
                    mode=UpdateMode.REPLACE,
                    etag=prev_etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        elif plan.merge is not None and prev_etag is not None:
            await assets.update_entity(
                writable({**plan.merge, "PartitionKey": pk, "RowKey": rk}),
                mode=UpdateMode.MERGE,
                etag=prev_etag,
                match_condition=MatchConditions.IfNotModified,
            )
    except ResourceExistsError:
        return False
    except HttpResponseError as exc:
        if exc.status_code in (409, 412):
            return False
        raise
    return True


async def _get_row(assets: AsyncTableClient, connection_id: str, name: str) -> Any:
    try:
        return await assets.get_entity(partition_key(connection_id, name), row_key(name))
    except ResourceNotFoundError:
        return None


async def reconcile_names(
    wanted: Mapping[str, tuple[str, str]],
    *,
    connection_id: str,
    container: AsyncContainerClient,
    assets: AsyncTableClient,
    inspector: Inspector,
    charge: Callable[..., int],
    rows_per_kind: Mapping[str, int],
    concurrency: int = 16,
    deltas: dict[str, int] | None = None,
) -> dict[str, int]:
    """Bring the rows of ``wanted`` (name -> (sequencer, event id)) to the blobs' current state.
    An empty sequencer is a re-check: no ordering, and the stored sequencer is kept.
    ``deltas`` collects the change of the connection's rows per status."""
    deltas = {} if deltas is None else deltas
    counts: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    pending = dict(wanted)
    for _round in range(4):  # rows that moved on under us are planned again
        if not pending:
            break
        now = datetime.now(UTC)

        async def plan_for(name: str, seq: str, event_id: str, now: datetime = now) -> _Plan | None:
            async with gate:
                prev = await _get_row(assets, connection_id, name)
                stored = str(prev.get("sequencer") or "") if prev is not None else ""
                if seq and stored and _seq_key(stored) >= _seq_key(seq):
                    return None  # a duplicate, or older than what the row already reflects
                plan = _Plan(name, seq or stored, event_id, prev)
                await _plan_one(plan, container=container, inspector=inspector, now=now)
                return plan

        names = list(pending)
        results = await asyncio.gather(*(plan_for(n, *pending[n]) for n in names))
        for name, plan in zip(names, results, strict=True):
            if plan is None:
                counts["stale"] = counts.get("stale", 0) + 1
                pending.pop(name)
        plans = [p for p in results if p is not None]
        # The usage row is a blocking ETag loop with back-off: keep it off the event loop.
        await asyncio.to_thread(
            _charge, plans, charge=charge, rows_per_kind=rows_per_kind, connection_id=connection_id
        )

        async def write(plan: _Plan) -> bool:
            async with gate:
                return await _write(plan, assets=assets, connection_id=connection_id)

        written = await asyncio.gather(*(write(p) for p in plans))
        for plan, ok in zip(plans, written, strict=True):
            if ok:
                counts[plan.outcome] = counts.get(plan.outcome, 0) + 1
                pending.pop(plan.name)
                _count_transition(plan, deltas)
    if pending:
        counts["conflicts"] = len(pending)
    return counts


def _count_transition(plan: _Plan, deltas: dict[str, int]) -> None:
    before = str(plan.prev.get("status")) if plan.prev is not None else None
    if plan.row is not None:
        after: str | None = str(plan.row.get("status"))
    elif plan.merge is not None and "status" in plan.merge:
        after = str(plan.merge["status"])
    else:
        return
    if before == after:
        return
    if before:
        deltas[before] = deltas.get(before, 0) - 1
    if after:
        deltas[after] = deltas.get(after, 0) + 1


def adjust_asset_counts(
    connections: ConnectionRepository, org: str, connection_id: str, deltas: Mapping[str, int]
) -> None:
    """After event writes to ``Assets``: apply the row-status deltas to the connection's
    ``assetCounts`` (so the Connection Manager shows them without a recount) and bump its
    ``assetsGeneration`` in the same ETag-guarded write, so the next sync does not trust the
    manifest the last run left (rows changed outside a run; see ``bump_assets_generation``)."""

    def step() -> None:
        row = connections.find(org, connection_id)
        if row is None:
            return
        counts = row.asset_counts.to_json()
        for status in counts:
            counts[status] = max(0, counts[status] + deltas.get(status, 0))
        connections.merge(
            row,
            {
                "assetCounts": json.dumps(counts),
                "assetsGeneration": EntityProperty(row.assets_generation + 1, EdmType.INT64),
            },
        )

    until_unchanged(step)


def _charge(
    plans: list[_Plan],
    *,
    charge: Callable[..., int],
    rows_per_kind: Mapping[str, int],
    connection_id: str,
) -> None:
    """Newly synced assets cost data rows: one charge per delivery, keyed by its event ids, so
    a redelivered batch is never charged twice."""
    new = [
        p
        for p in plans
        if p.row is not None
        and p.outcome == AssetStatus.SYNCED.value
        and (p.prev is None or p.prev.get("status") != AssetStatus.SYNCED.value)
    ]
    if not new:
        return
    digest = hashlib.sha256(
        "\n".join(sorted(f"{p.event_id}|{p.row['etag'] if p.row else ''}" for p in new)).encode()
    ).hexdigest()[:40]
    costs = [rows_per_kind.get(p.kind, 0) for p in new]
    budget = charge(key=f"ev~{connection_id}~{digest}", costs=costs)
    for plan, cost in zip(new, costs, strict=True):
        assert plan.row is not None
        if cost <= budget:
            budget -= cost
            plan.row["dataRows"] = cost
        else:
            plan.row.update(
                status=AssetStatus.SKIPPED.value,
                reason=Reason.QUOTA_EXCEEDED.value,
                detail=f"needs {cost} data rows; the monthly quota is used up",
                dataRows=0,
            )
            plan.outcome = AssetStatus.SKIPPED.value


def newest_per_blob(
    events: Iterable[BlobEvent], *, account: str, container: str, prefix: str
) -> tuple[dict[str, tuple[str, str]], int]:
    """The newest in-scope event per blob name (by sequencer), and how many were ignored."""
    chosen: dict[str, tuple[str, str]] = {}
    ignored = 0
    for ev in events:
        name = blob_name_in_scope(ev, account=account, container=container, prefix=prefix)
        if name is None:
            ignored += 1
            continue
        held = chosen.get(name)
        if held is None or _seq_key(ev.sequencer) > _seq_key(held[0]):
            chosen[name] = (ev.sequencer, ev.id)  # "": no ordering, always reconcile
    return chosen, ignored


def _merge_newest(*maps: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for m in maps:
        for name, (seq, event_id) in m.items():
            held = out.get(name)
            if held is None or _seq_key(seq) > _seq_key(held[0]):
                out[name] = (seq, event_id)
    return out


async def handle_delivery(
    events: list[BlobEvent],
    *,
    connection: Connection,
    still_active: Callable[[], bool],
    repo: AutosyncRepository,
    connections: ConnectionRepository,
    container: AsyncContainerClient,
    assets: AsyncTableClient,
    inspector: Inspector,
    charge: Callable[..., int],
    rows_per_kind: Mapping[str, int],
    concurrency: int = 16,
) -> dict[str, int]:
    """Apply one authenticated delivery to ``connection``'s rows.

    While a run holds the connection the in-scope events are queued (``EventRechecks``), not
    applied: the run's own writes (from a listing that may predate the event) must not land
    after the event's, nor charge an asset the event already charged. The run's end applies
    the queue (``after_run``), after every write of the run; a delivery that finds the
    connection free applies any leftovers with its own events."""
    wanted, out_of_scope = newest_per_blob(
        events, account=connection.account, container=connection.container, prefix=connection.prefix
    )
    counts = {
        "received": len(events),
        "outOfScope": out_of_scope,
        "duplicates": len(events) - out_of_scope - len(wanted),
    }
    cid = connection.connection_id
    # Table I/O goes through worker threads: the caller's event loop is never blocked.
    if connection.active_run_id and wanted:
        await asyncio.to_thread(repo.queue_events, cid, wanted)
        if await asyncio.to_thread(
            still_active
        ):  # otherwise the run ended meanwhile: apply the queue now
            counts["queued"] = len(wanted)
            return counts
        wanted = {}
    elif connection.active_run_id:
        return counts
    queued, keys = await asyncio.to_thread(repo.queued_events, cid)
    if not wanted and not queued:
        return counts  # nothing in scope: no row is touched
    deltas: dict[str, int] = {}
    applied = await reconcile_names(
        _merge_newest(queued, wanted),
        connection_id=cid,
        container=container,
        assets=assets,
        inspector=inspector,
        charge=charge,
        rows_per_kind=rows_per_kind,
        concurrency=concurrency,
        deltas=deltas,
    )
    await asyncio.to_thread(adjust_asset_counts, connections, connection.org_id, cid, deltas)
    await asyncio.to_thread(repo.drop_queued, cid, keys)
    for key, value in applied.items():
        counts[key] = counts.get(key, 0) + value
    return counts


async def apply_queued(
    *,
    org: str,
    connection_id: str,
    repo: AutosyncRepository,
    connections: ConnectionRepository,
    container: AsyncContainerClient,
    assets: AsyncTableClient,
    inspector: Inspector,
    charge: Callable[..., int],
    rows_per_kind: Mapping[str, int],
) -> int:
    """Apply the events queued while a run held the connection (called when it ends)."""
    queued, keys = await asyncio.to_thread(repo.queued_events, connection_id)
    if not keys:
        return 0
    deltas: dict[str, int] = {}
    await reconcile_names(
        queued,
        connection_id=connection_id,
        container=container,
        assets=assets,
        inspector=inspector,
        charge=charge,
        rows_per_kind=rows_per_kind,
        deltas=deltas,
    )
    await asyncio.to_thread(adjust_asset_counts, connections, org, connection_id, deltas)
    await asyncio.to_thread(repo.drop_queued, connection_id, keys)
    return len(queued)
