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
wrote rows rebuilds the manifest from the table scan its finish already makes for the asset
counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from azure.data.tables import TableClient

from shared.store.assets import AssetStatus, scan_connection
from shared.store.connections import Connection
from shared.store.staging import SnapshotRef, SnapshotRow, Staging

__all__ = [
    "MANIFEST_VERSION",
    "counts_of",
    "discard_manifest",
    "keep_manifest",
    "scope_of",
    "take_snapshot",
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
        staging.drop_manifest(cid)
    if pointer is not None and _trusted(pointer, connection):
        ref = SnapshotRef(
            base=pointer["base"],
            firsts=list(pointer["firsts"]),
            rows=int(pointer.get("rows", 0)),
            source="manifest",
            generation=connection.assets_generation,
        )
    else:
        rows = list(scan_connection(assets, cid))
        base = staging.manifest_base(cid, f"{run_id}-s")
        ref = SnapshotRef(
            base=base,
            firsts=staging.put_chunks(base, rows),
            rows=len(rows),
            source="scan",
            generation=connection.assets_generation,
        )
    staging.put_snapshot_ref(run_id, ref)
    return ref


def counts_of(rows: list[SnapshotRow]) -> dict[str, int]:
    counts: Counter[str] = Counter(r.status.value for r in rows)
    return {status.value: counts.get(status.value, 0) for status in AssetStatus}


def keep_manifest(
    *,
    run_id: str,
    connection: Connection,
    wrote: bool,
    assets: TableClient,
    staging: Staging,
) -> dict[str, int] | None:
    """Leave the connection's manifest after a completed run. ``connection`` is read now
    (before any scan). Returns the asset counts when it scanned the table, else None."""
    cid = connection.connection_id
    ref = staging.snapshot_ref(run_id)
    counts: dict[str, int] | None = None
    if not wrote and ref is not None:
        base, firsts, rows_n = ref["base"], ref["firsts"], ref["rows"]
        generation = ref["generation"]  # what the rows were read at, not today's value
    else:
        generation = connection.assets_generation
        rows = list(scan_connection(assets, cid))
        counts = counts_of(rows)
        base = staging.manifest_base(cid, f"{run_id}-f")
        firsts = staging.put_chunks(base, rows)
        rows_n = len(rows)
    staging.put_manifest(
        cid,
        {
            "version": MANIFEST_VERSION,
            "runId": run_id,
            "generation": generation,
            "scope": scope_of(connection),
            "base": base,
            "firsts": firsts,
            "rows": rows_n,
        },
    )
    # Older manifests go; this run's own snapshot stays until the next run (a retried finish
    # still reads it). Pruning happens while this run holds the connection, so no other run
    # is reading any of it.
    staging.prune_manifests(cid, keep=(base, ref["base"]) if ref else (base,))
    return counts


def discard_manifest(*, connection_id: str, staging: Staging) -> None:
    """A run that did not complete: no manifest may remain (its pointer is already gone).
    Called while the run still holds the connection."""
    staging.drop_manifest(connection_id)
    staging.prune_manifests(connection_id)
