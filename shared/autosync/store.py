"""Auto-sync rows in the metadata account.

- ``Autosync`` (PK org, RK connection): ``schedule`` (JSON), ``scheduleSetAt``,
  ``eventKeyHash`` (SHA-256 of the event key; the key itself is never stored),
  ``eventsEnabledAt``, ``webhookUrl``, ``webhookSecret`` (needed to sign; never returned after
  creation, never logged), ``webhookSetAt``.
- ``EventRechecks`` (PK connection, RK ``<asset row key>~<sequencer>``): blob events that
  arrived while a run held the connection, applied when that run ends (or with the next
  delivery after it).
- ``WebhookDeliveries`` (PK connection, RK run): attempts, last HTTP status, outcome.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.asset_keys import row_key
from shared.autosync.schedule import Schedule
from shared.store._common import utcnow
from shared.store.cleanup import delete_partition

__all__ = ["AutosyncConfig", "AutosyncRepository", "hash_key"]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class AutosyncConfig:
    org_id: str
    connection_id: str
    schedule: Schedule = field(default_factory=lambda: Schedule("off"))
    event_key_hash: str = field(default="", repr=False)
    events_enabled_at: datetime | None = None
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_set_at: datetime | None = None

    @property
    def events_enabled(self) -> bool:
        return bool(self.event_key_hash)

    def public_json(self) -> dict[str, Any]:
        """What the API shows: never a key or secret."""
        return {
            "schedule": self.schedule.to_json(),
            "events": {
                "enabled": self.events_enabled,
                "enabledAt": self.events_enabled_at.isoformat() if self.events_enabled_at else None,
            },
            "webhook": {
                "url": self.webhook_url or None,
                "setAt": self.webhook_set_at.isoformat() if self.webhook_set_at else None,
            },
        }


class AutosyncRepository:
    def __init__(self, table: TableClient, rechecks: TableClient, deliveries: TableClient) -> None:
        self._table = table
        self._rechecks = rechecks
        self._deliveries = deliveries

    # -- configuration ---------------------------------------------------------------------------
    def get(self, org_id: str, connection_id: str) -> AutosyncConfig:
        try:
            e = self._table.get_entity(org_id, connection_id)
        except ResourceNotFoundError:
            return AutosyncConfig(org_id, connection_id)
        set_at = e.get("scheduleSetAt")
        return AutosyncConfig(
            org_id=org_id,
            connection_id=connection_id,
            schedule=Schedule.from_json(json.loads(e.get("schedule") or "{}"), set_at),
            event_key_hash=str(e.get("eventKeyHash") or ""),
            events_enabled_at=e.get("eventsEnabledAt"),
            webhook_url=str(e.get("webhookUrl") or ""),
            webhook_secret=str(e.get("webhookSecret") or ""),
            webhook_set_at=e.get("webhookSetAt"),
        )

    def _merge(self, org_id: str, connection_id: str, patch: dict[str, Any]) -> None:
        self._table.upsert_entity(
            {"PartitionKey": org_id, "RowKey": connection_id, **patch}, mode=UpdateMode.MERGE
        )

    def set_schedule(self, org_id: str, connection_id: str, schedule: Schedule) -> None:
        self._merge(
            org_id,
            connection_id,
            {"schedule": json.dumps(schedule.to_json()), "scheduleSetAt": schedule.set_at},
        )

    def set_event_key(self, org_id: str, connection_id: str, key: str | None) -> None:
        self._merge(
            org_id,
            connection_id,
            {
                "eventKeyHash": hash_key(key) if key else "",
                "eventsEnabledAt": utcnow() if key else None,
            },
        )

    def set_webhook(self, org_id: str, connection_id: str, url: str, secret: str) -> None:
        self._merge(
            org_id,
            connection_id,
            {"webhookUrl": url, "webhookSecret": secret, "webhookSetAt": utcnow() if url else None},
        )

    def delete(self, org_id: str, connection_id: str) -> None:
        """Forget the connection's auto-sync: its settings (a scheduler stops at its next due
        time), queued events and webhook deliveries."""
        with contextlib.suppress(ResourceNotFoundError):
            self._table.delete_entity(org_id, connection_id)
        delete_partition(self._rechecks, connection_id)
        delete_partition(self._deliveries, connection_id)

    # -- queued events ------------------------------------------------------------------------
    def queue_events(self, connection_id: str, wanted: Mapping[str, tuple[str, str]]) -> None:
        """Queue blob events that arrived while a run holds the connection.
        ``wanted``: blob name -> (sequencer, event id). One row per (blob, sequencer)."""
        now = utcnow()
        for name, (sequencer, event_id) in wanted.items():
            self._rechecks.upsert_entity(
                {
                    "PartitionKey": connection_id,
                    "RowKey": f"{row_key(name)}~{sequencer}",
                    "name": name,
                    "sequencer": sequencer,
                    "eventId": event_id,
                    "at": now,
                }
            )

    def queued_events(self, connection_id: str) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """The newest queued event per blob (name -> (sequencer, event id)), and the row keys
        to drop once they are applied."""
        newest: dict[str, tuple[str, str]] = {}
        keys: list[str] = []
        for e in self._rechecks.query_entities(
            "PartitionKey eq @pk",
            parameters={"pk": connection_id},
            select=["RowKey", "name", "sequencer", "eventId"],
        ):
            keys.append(str(e["RowKey"]))
            name, seq = str(e["name"]), str(e.get("sequencer") or "")
            held = newest.get(name)
            if held is None or seq.rjust(64, "0") > held[0].rjust(64, "0"):
                newest[name] = (seq, str(e.get("eventId") or "queued"))
        return newest, keys

    def drop_queued(self, connection_id: str, keys: list[str]) -> None:
        for rk in keys:
            with contextlib.suppress(ResourceNotFoundError):
                self._rechecks.delete_entity(connection_id, rk)

    # -- webhook deliveries ----------------------------------------------------------------------
    def record_delivery(
        self, connection_id: str, run_id: str, *, attempt: int, status: int | None, outcome: str
    ) -> None:
        self._deliveries.upsert_entity(
            {
                "PartitionKey": connection_id,
                "RowKey": run_id,
                "attempts": attempt,
                "lastStatus": status if status is not None else 0,
                "outcome": outcome,
                "lastAttemptAt": utcnow(),
            },
            mode=UpdateMode.MERGE,
        )

    def deliveries(self, connection_id: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = [
            {
                "runId": str(e["RowKey"]),
                "attempts": int(e.get("attempts") or 0),
                "lastStatus": int(e.get("lastStatus") or 0) or None,
                "outcome": str(e.get("outcome") or ""),
                "lastAttemptAt": e["lastAttemptAt"].isoformat() if e.get("lastAttemptAt") else None,
            }
            for e in self._deliveries.query_entities(
                "PartitionKey eq @pk", parameters={"pk": connection_id}
            )
        ]
        rows.sort(key=lambda r: str(r["runId"]), reverse=True)
        return rows[:limit]
