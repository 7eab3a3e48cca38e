"""The pure parts of auto-sync: due times, delivery parsing and scope, signatures."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.autosync.events import (
    BlobEvent,
    EventAuthError,
    blob_name_in_scope,
    check_event_key,
    newest_per_blob,
    parse_deliveries,
)
from shared.autosync.schedule import Schedule, parse_schedule
from shared.autosync.store import hash_key
from shared.autosync.webhooks import sign, validate_url
from shared.errors import ValidationError

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


def test_an_interval_is_anchored_where_it_was_set() -> None:
    s = parse_schedule({"mode": "interval", "everyHours": 6}, min_interval_seconds=3600, now=NOW)
    assert s.next_due(NOW) == NOW + timedelta(hours=6)
    assert s.next_due(NOW + timedelta(hours=6)) == NOW + timedelta(hours=12)  # strictly after
    assert s.next_due(NOW + timedelta(hours=13, minutes=1)) == NOW + timedelta(hours=18)
    with pytest.raises(ValidationError):
        parse_schedule({"mode": "interval", "everyMinutes": 5}, min_interval_seconds=3600, now=NOW)


def test_daily_follows_the_time_zone_across_daylight_saving() -> None:
    s = parse_schedule(
        {"mode": "daily", "at": "02:30", "timeZone": "Europe/Berlin"},
        min_interval_seconds=3600,
        now=NOW,
    )
    # 2026-03-29 02:30 does not exist in Berlin (clocks jump 02:00 -> 03:00).
    first = s.next_due(NOW)
    assert first is not None and first.date().isoformat() == "2026-03-29"
    second = s.next_due(first)
    assert second == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST
    winter = s.next_due(datetime(2026, 1, 10, 1, 29, tzinfo=UTC))
    assert winter == datetime(2026, 1, 10, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert Schedule("off").next_due(NOW) is None


def _eg(subject: str, seq: str, kind: str = "BlobCreated", topic: str = "") -> dict[str, object]:
    return {
        "id": seq,
        "eventType": f"Microsoft.Storage.{kind}",
        "subject": subject,
        "topic": topic,
        "data": {"sequencer": seq, "eTag": '"0x1"'},
    }


def test_deliveries_in_both_schemas_parse_to_the_same_events() -> None:
    subject = "/blobServices/default/containers/c/blobs/p/a.jpg"
    eg = parse_deliveries(json.dumps([_eg(subject, "01")]).encode(), "application/json")
    ce_body = {
        "specversion": "1.0",
        "id": "01",
        "type": "Microsoft.Storage.BlobCreated",
        "source": "",
        "subject": subject,
        "data": {"sequencer": "01", "eTag": "0x1"},
    }
    one = parse_deliveries(json.dumps(ce_body).encode(), "application/cloudevents+json")
    many = parse_deliveries(
        json.dumps([ce_body]).encode(), "application/cloudevents-batch+json; charset=utf-8"
    )
    assert eg.events == one.events == many.events
    assert eg.events[0].etag == "0x1"
    for bad in (b"{", b"[]", b"{}", b'[{"id": 1}]'):
        with pytest.raises(ValidationError):
            parse_deliveries(bad, "application/json")


def test_scope_comes_from_the_connection_never_the_event() -> None:
    def name(subject: str, topic: str = "") -> str | None:
        event = BlobEvent("1", "Microsoft.Storage.BlobCreated", subject, topic, "01", "")
        return blob_name_in_scope(event, account="acct", container="c", prefix="p/")

    assert name("/blobServices/default/containers/c/blobs/p/x.jpg") == "p/x.jpg"
    assert name("/blobServices/default/containers/c/blobs/q/x.jpg") is None
    assert name("/blobServices/default/containers/cc/blobs/p/x.jpg") is None
    other = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/evil"
    assert name("/blobServices/default/containers/c/blobs/p/x.jpg", other) is None


def test_the_newest_event_per_blob_wins_whatever_the_order() -> None:
    subject = "/blobServices/default/containers/c/blobs/a.jpg"
    events = parse_deliveries(
        json.dumps(
            [_eg(subject, "0000000000000000000000000000000a", "BlobDeleted"), _eg(subject, "09")]
        ).encode(),
        "application/json",
    ).events
    wanted, out = newest_per_blob(events, account="acct", container="c", prefix="")
    assert wanted == {
        "a.jpg": ("0000000000000000000000000000000a", "0000000000000000000000000000000a")
    }
    assert out == 0


def test_the_event_key_is_checked_against_its_hash() -> None:
    check_event_key("evk_right", hash_key("evk_right"))
    for presented in ("evk_wrong", "", None):
        with pytest.raises(EventAuthError):
            check_event_key(presented, hash_key("evk_right"))


def test_webhook_urls_and_signatures() -> None:
    assert validate_url("https://hooks.example.com/x", allow_loopback=False)
    for bad in ("http://hooks.example.com/x", "https://127.0.0.1/x", "https://u:p@h.example/x"):
        with pytest.raises(ValidationError):
            validate_url(bad, allow_loopback=False)
    assert validate_url("http://127.0.0.1:9/x", allow_loopback=True)
    assert sign("s", 1700000000, b"{}") == (
        "t=1700000000,v1=" + hmac.new(b"s", b"1700000000.{}", "sha256").hexdigest()
    )
