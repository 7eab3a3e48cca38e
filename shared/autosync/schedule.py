"""Schedules of a connection (pure): validation and the next due time.

A schedule is off, an interval (every N hours, or N minutes down to
``AUTOSYNC_MIN_INTERVAL_MINUTES``) anchored at the moment the schedule was set, or a daily time
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

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Schedule:
    mode: str  # off | interval | daily
    every_minutes: int = 0
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
            step = timedelta(minutes=self.every_minutes)
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
            if self.every_minutes % 60 == 0:
                out["everyHours"] = self.every_minutes // 60
            else:
                out["everyMinutes"] = self.every_minutes
        elif self.mode == "daily":
            out["at"] = self.at
            out["timeZone"] = self.time_zone
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any] | None, set_at: datetime | None) -> Schedule:
        value = value or {}
        mode = str(value.get("mode", "off"))
        if mode == "interval":
            minutes = int(value.get("everyMinutes") or int(value.get("everyHours") or 0) * 60)
            return cls("interval", every_minutes=minutes, set_at=set_at)
        if mode == "daily":
            return cls(
                "daily",
                at=str(value.get("at", "00:00")),
                time_zone=str(value.get("timeZone", "UTC")),
                set_at=set_at,
            )
        return cls("off", set_at=set_at)


def parse_schedule(body: Any, *, min_interval_minutes: int, now: datetime) -> Schedule:
    """Validate a schedule from the API (400 ``validation_failed`` with field errors)."""
    if not isinstance(body, dict):
        raise ValidationError([FieldError("schedule", "invalid_type", "must be an object")])
    mode = body.get("mode")
    errors: list[FieldError] = []
    if mode == "off":
        return Schedule("off", set_at=now)
    if mode == "interval":
        hours, minutes = body.get("everyHours"), body.get("everyMinutes")
        if (hours is None) == (minutes is None):
            errors.append(
                FieldError("everyHours", "required", "give exactly one of everyHours, everyMinutes")
            )
        elif hours is not None and (
            not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 168
        ):
            errors.append(FieldError("everyHours", "out_of_range", "an integer from 1 to 168"))
        elif minutes is not None and (
            not isinstance(minutes, int)
            or isinstance(minutes, bool)
            or not min_interval_minutes <= minutes <= 10080
        ):
            errors.append(
                FieldError(
                    "everyMinutes",
                    "out_of_range",
                    f"an integer from {min_interval_minutes} to 10080",
                )
            )
        if errors:
            raise ValidationError(errors)
        total = int(minutes) if minutes is not None else int(hours or 0) * 60
        if total < min_interval_minutes:
            raise ValidationError(
                [FieldError("everyHours", "out_of_range", "the interval is too short")]
            )
        return Schedule("interval", every_minutes=total, set_at=now)
    if mode == "daily":
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
