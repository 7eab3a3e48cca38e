"""Small helpers shared by the table repositories."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["as_datetime", "as_int", "iso", "json_object", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and whole seconds: ``2026-11-24T14:45:00Z``."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def as_datetime(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


def as_int(value: Any, default: int = 0) -> int:
    """An integer property; Int64 values may come back wrapped as ``EntityProperty``."""
    raw = getattr(value, "value", value)
    if isinstance(raw, bool):
        return default
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            return default
    return default


def json_object(value: Any) -> dict[str, Any] | None:
    """A JSON object stored as a string property (or already parsed); None when absent."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None
