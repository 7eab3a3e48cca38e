"""The connection's manifest: change detection without scanning the ``Assets`` table.

A run compares each listed blob with a snapshot of the connection's stored rows (name, etag,
size, status, reason), kept as sorted gzip chunks in the staging container. Taking that snapshot
from the table costs one query page and one entity decode per 1,000 rows. A run that completes
therefore leaves its final state behind as the connection's *manifest* (the same chunks plus a
small pointer), and the next run uses it instead of the table.

The ``Assets`` rows stay the source of truth; the manifest is only trusted when nothing can have
changed them since it was made:

- **Consumed when read.** The run that takes the snapshot withdraws the pointer before it writes
  anything, so a run that then fails, is cancelled, or dies leaves no manifest: the next run
  scans the table. Only a completed run puts a pointer back.
- **Generation.** The pointer records the connection row's ``assetsGeneration`` as read *before*
  the rows it describes were read. Every writer of asset rows outside a run (blob events,
  repairs) must write its rows first and then bump that counter
  (``ConnectionRepository.bump_assets_generation``); a pointer of another generation is ignored.
- **Scope.** The pointer records the account, container, prefix and creation time of the
  connection; a re-scoped (or deleted and re-created) connection never reads an old manifest.

A completed run that staged nothing and removed nothing wrote no row, so the snapshot it read
is still exact and is carried over as is (a pointer write; no chunk is rewritten). A run that
wrote rows folds them into the snapshot it read: each inspection batch stages the rows it wrote
next to its page, and the finish merges snapshot, written rows and removed names in one pass in
name order (one chunk in memory at a time) and counts the statuses on the way, so neither the
manifest nor the asset counts need a scan of the table. Only when the generation moved since
the snapshot (rows written outside the run) or the run's staged data is incomplete does the
finish scan the table instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from shared.store.assets import AssetStatus, scan_connection
from shared.store.connections import Connection
from shared.store.staging import UNREAD, KnownRef, SnapshotRef, SnapshotRow, Staging

__all__ = [
    "MANIFEST_VERSION",
    "counts_of",
    "discard_manifest",
    "keep_manifest",
    "merged_rows",
    "scope_of",
    "take_snapshot",
    "walk_seed",
]

#: Bumped when the chunk format changes: an older manifest is then ignored.
MANIFEST_VERSION = 1


def scope_of(connection: Connection) -> list[str]:
    return [
        connection.account,
        connection.container,
        connection.prefix,
        connection.created_at.isoformat(),
    ]


def _trusted(pointer: dict[str, Any] | None, connection: Connection) -> bool:
    return (
        pointer is not None
        and pointer.get("version") == MANIFEST_VERSION
        and pointer.get("generation") == connection.assets_generation
        and pointer.get("scope") == scope_of(connection)
        and isinstance(pointer.get("base"), str)
        and isinstance(pointer.get("firsts"), list)
    )


def take_snapshot(
    *, run_id: str, connection: Connection, assets: TableClient, staging: Staging
) -> SnapshotRef:
    """The run's snapshot of stored rows: the connection's manifest when it can be trusted,
    else a scan of the table. ``connection`` must have been read before this is called."""
    existing = staging.snapshot_ref(run_id)
    if existing is not None:  # this step ran before (a retry): the snapshot stands
        return existing
    cid = connection.connection_id
    pointer = staging.manifest(cid)
    if pointer is not None:
        # Consumed: from here on this run may write rows, and only its completion may put a
        # manifest back.
        # (Overwritten rather than deleted: the emulator scans all its blobs for a delete.)
        staging.withdraw_manifest(cid, run_id)
    if pointer is not None and _trusted(pointer, connection):
        ref = SnapshotRef(
            base=pointer["base"],
            firsts=list(pointer["firsts"]),
            rows=int(pointer.get("rows", 0)),
            source="manifest",
            generation=connection.assets_generation,
        )
        if isinstance(pointer.get("live"), int):
            ref["live"] = pointer["live"]
        if isinstance(pointer.get("shape"), list):
            ref["shape"] = pointer["shape"]
        if isinstance(pointer.get("kept"), list):
            ref["kept"] = pointer["kept"]
    else:
        rows = list(scan_connection(assets, cid))
        base = staging.manifest_base(cid, f"{run_id}-s")
        ref = SnapshotRef(
            base=base,
            firsts=staging.put_chunks(base, rows),
            rows=len(rows),
            source="scan",
            generation=connection.assets_generation,
            live=sum(1 for r in rows if r.status is not AssetStatus.REMOVED),
        )
    staging.put_snapshot_ref(run_id, ref)
    return ref


def walk_seed(*, run_id: str, connection: Connection, staging: Staging) -> Any:
    """The shape of the previous run's walk (to seed this run's walk with; checked by the
    walk), from this run's snapshot when it was taken, else from the connection's manifest."""
    ref = staging.snapshot_ref(run_id)
    if ref is not None:
        return ref.get("shape")
    pointer = staging.manifest(connection.connection_id)
    return pointer.get("shape") if pointer and _trusted(pointer, connection) else None


def live_of(counts: dict[str, int]) -> int:
    """Rows that are not marked removed, from counts by status."""
    return sum(n for status, n in counts.items() if status != AssetStatus.REMOVED.value)


def counts_of(rows: Iterable[SnapshotRow]) -> dict[str, int]:
    counts: Counter[str] = Counter(r.status.value for r in rows)
    return {status.value: counts.get(status.value, 0) for status in AssetStatus}


def merged_rows(
    snapshot: Iterable[SnapshotRow], written: Iterable[SnapshotRow], gone: Collection[str]
) -> Iterator[SnapshotRow]:
    """The rows after a run, in name order: the snapshot (in name order) with the rows the run
    wrote (in name order, one per name) in place of or between its rows, and the ``gone``
    names marked removed (as the table marks them: the rest of the row stays). Both inputs are
    streamed: one row of each is held."""
    rest = iter(written)
    nxt = next(rest, None)
    for row in snapshot:
        while nxt is not None and nxt.name < row.name:
            yield nxt
            nxt = next(rest, None)
        if nxt is not None and nxt.name == row.name:
            yield nxt
            nxt = next(rest, None)
        elif row.name in gone:
            yield row._replace(status=AssetStatus.REMOVED)
        else:
            yield row
    while nxt is not None:
        yield nxt
        nxt = next(rest, None)


def _folded(
    *, run_id: str, base: str, gone: Collection[str], staging: Staging
) -> tuple[list[str], dict[str, int]] | None:
    """The snapshot with this run's writes folded in, stored under ``base``: (firsts, counts),
    or None when part of the run's staged data is gone (a scan must decide instead)."""
    counter: Counter[str] = Counter()

    def counted(rows: Iterable[SnapshotRow]) -> Iterator[SnapshotRow]:
        for row in rows:
            counter[row.status.value] += 1
            yield row

    try:
        written = staging.iter_results(run_id)
        rows = merged_rows(staging.iter_snapshot(run_id, strict=True), written, gone)
        firsts = staging.put_sorted_chunks(base, counted(rows))
    except ResourceNotFoundError:
        return None
    return firsts, {status.value: counter.get(status.value, 0) for status in AssetStatus}


def keep_manifest(
    *,
    run_id: str,
    connection: Connection,
    wrote: bool,
    assets: TableClient,
    staging: Staging,
    gone: Collection[str] = (),
    ref: KnownRef = UNREAD,
) -> dict[str, int] | None:
    """Leave the connection's manifest after a completed run. ``connection`` is read now
    (before any scan); ``gone`` are the names this run marked removed; ``ref`` the run's
    snapshot reference when the caller has read it already. Returns the asset counts when it
    built the manifest from rows (folded or scanned), else None."""
    cid = connection.connection_id
    existing = staging.manifest(cid)
    if existing and existing.get("runId") == run_id and isinstance(existing.get("counts"), dict):
        return dict(existing["counts"])  # a retried finish: this run's manifest stands
    ref = staging.snapshot_ref(run_id, ref)
    counts: dict[str, int] | None = None
    base = staging.manifest_base(cid, f"{run_id}-f")
    folded = None
    if wrote and ref is not None and ref["generation"] == connection.assets_generation:
        # Nothing outside this run wrote rows since its snapshot: fold its writes in.
        folded = _folded(run_id=run_id, base=base, gone=gone, staging=staging)
    if not wrote and ref is not None:
        base, firsts, rows_n = ref["base"], ref["firsts"], ref["rows"]
        generation = ref["generation"]  # what the rows were read at, not today's value
    elif folded is not None and ref is not None:
        firsts, counts = folded
        rows_n = sum(counts.values())
        generation = ref["generation"]
    else:
        generation = connection.assets_generation
        rows = list(scan_connection(assets, cid))
        counts = counts_of(rows)
        firsts = staging.put_chunks(base, rows)
        rows_n = len(rows)
    pointer: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "runId": run_id,
        "generation": generation,
        "scope": scope_of(connection),
        "base": base,
        "firsts": firsts,
        "rows": rows_n,
    }
    if counts is not None:
        pointer["counts"] = counts
        pointer["live"] = live_of(counts)
    elif ref is not None and "live" in ref:
        pointer["live"] = ref["live"]
    shape = staging.walk_shape(run_id)
    if shape:
        pointer["shape"] = shape
    keep = sorted({base, ref["base"]} if ref else {base})
    pointer["kept"] = keep
    staging.put_manifest(cid, pointer)
    # Older manifests go; this run's own snapshot stays until the next run (a retried finish
    # still reads it). Pruning happens while this run holds the connection, so no other run
    # is reading any of it. When the manifest this run read says that all its connection
    # held were bases kept now (a re-sync that changed nothing), there is nothing to prune.
    held = ref.get("kept") if ref is not None else None
    if held is None or not set(held) <= set(keep):
        staging.prune_manifests(cid, keep=tuple(keep))
    return counts


def discard_manifest(*, connection_id: str, staging: Staging) -> None:
    """A run that did not complete: no manifest may remain (its pointer is already gone).
    Called while the run still holds the connection."""
    staging.drop_manifest(connection_id)
    staging.prune_manifests(connection_id)
