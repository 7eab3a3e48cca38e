"""Schedules of a connection (pure): validation and the next due time.

A schedule is off, an interval (every N hours, minutes or seconds, not below
``AUTOSYNC_MIN_INTERVAL_SECONDS``, default one hour) anchored at the moment the schedule was set, or a daily time
of day in an IANA time zone (``zoneinfo``; a time skipped by a DST change fires at the shifted
instant, a repeated one at its first occurrence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import FieldError, ValidationError

__all__ = ["Schedule", "parse_schedule"]

#: Durable timers of the Azure Storage provider are safe up to 6 days.
MAX_INTERVAL_SECONDS = 6 * 86400

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Schedule:
    mode: str  # off | interval | daily
    every_seconds: int = 0
    at: str = ""
    time_zone: str = "UTC"
    #: When the schedule was set (interval anchor, and the version the scheduler runs for).
    set_at: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def version(self) -> str:
        return self.set_at.isoformat() if self.set_at else ""

    def next_due(self, after: datetime) -> datetime | None:
        """The first due time strictly after ``after`` (UTC), or None when off."""
        if self.mode == "interval":
            anchor = self.set_at or after
            step = timedelta(seconds=self.every_seconds)
            if after < anchor:
                return anchor + step
            periods = (after - anchor) // step + 1
            return anchor + periods * step
        if self.mode == "daily":
            zone = ZoneInfo(self.time_zone)
            hour, minute = (int(x) for x in self.at.split(":"))
            local = after.astimezone(zone)
            for days in range(0, 3):
                day = (local + timedelta(days=days)).date()
                candidate = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
                if candidate > after:
                    return candidate
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        if self.mode == "interval":
            if self.every_seconds % 3600 == 0:
                out["everyHours"] = self.every_seconds // 3600
            elif self.every_seconds % 60 == 0:
                out["everyMinutes"] = self.every_seconds // 60
            else:
                out["everySeconds"] = self.every_seconds
        elif self.mode == "daily":
            out["at"] = self.at
            out["timeZone"] = self.time_zone
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any] | None, set_at: datetime | None) -> Schedule:
        value = value or {}
        mode = str(value.get("mode", "off"))
        if mode == "interval":
            seconds = (
                int(value.get("everySeconds") or 0)
                + int(value.get("everyMinutes") or 0) * 60
                + int(value.get("everyHours") or 0) * 3600
            )
            return cls("interval", every_seconds=seconds, set_at=set_at)
        if mode == "daily":
            return cls(
                "daily",
                at=str(value.get("at", "00:00")),
                time_zone=str(value.get("timeZone", "UTC")),
                set_at=set_at,
            )
        return cls("off", set_at=set_at)


def parse_schedule(body: Any, *, min_interval_seconds: int, now: datetime) -> Schedule:
    """Validate a schedule from the API (400 ``validation_failed`` with field errors)."""
    if not isinstance(body, dict):
        raise ValidationError([FieldError("schedule", "invalid_type", "must be an object")])
    mode = body.get("mode")
    if mode == "off":
        return Schedule("off", set_at=now)
    if mode == "interval":
        units = {"everyHours": 3600, "everyMinutes": 60, "everySeconds": 1}
        given = [(k, body[k]) for k in units if body.get(k) is not None]
        if len(given) != 1:
            raise ValidationError(
                [
                    FieldError(
                        "everyHours",
                        "required",
                        "give one of everyHours, everyMinutes, everySeconds",
                    )
                ]
            )
        field_name, amount = given[0]
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            raise ValidationError([FieldError(field_name, "out_of_range", "a positive integer")])
        total = amount * units[field_name]
        if not min_interval_seconds <= total <= MAX_INTERVAL_SECONDS:
            raise ValidationError(
                [
                    FieldError(
                        field_name,
                        "out_of_range",
                        f"between {min_interval_seconds} seconds and 6 days",
                    )
                ]
            )
        return Schedule("interval", every_seconds=total, set_at=now)
    if mode == "daily":
        errors: list[FieldError] = []
        at, zone = body.get("at"), body.get("timeZone", "UTC")
        if not isinstance(at, str) or not _HHMM.match(at):
            errors.append(FieldError("at", "invalid_format", "a time of day as HH:MM (24 h)"))
        if not isinstance(zone, str) or not _zone_ok(zone):
            errors.append(
                FieldError("timeZone", "invalid_value", "an IANA time zone, e.g. Europe/Berlin")
            )
        if errors:
            raise ValidationError(errors)
        return Schedule("daily", at=str(at), time_zone=str(zone), set_at=now)
    raise ValidationError([FieldError("mode", "invalid_value", "one of off, interval, daily")])


def _zone_ok(name: str) -> bool:
    if not re.match(r"^[A-Za-z0-9_+\-/]{1,64}$", name) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
