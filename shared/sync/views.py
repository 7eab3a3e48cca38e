"""Wire shapes of asset rows: the skip report and the asset list, with reason titles and fixes."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from shared.errors import FieldError, ValidationError
from shared.reasons import Reason, guide
from shared.store._common import as_int

__all__ = ["asset_id", "asset_name", "asset_view"]

_KNOWN = frozenset(r.value for r in Reason)


def asset_id(name: str) -> str:
    """A URL-safe id for a blob name (base64url of its UTF-8, unpadded)."""
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode().rstrip("=")


def asset_name(asset: str) -> str:
    try:
        raw = base64.urlsafe_b64decode((asset + "=" * (-len(asset) % 4)).encode("ascii"))
        name = raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise ValidationError(
            [FieldError("asset", "invalid_format", "not an asset id from the asset list")]
        ) from None
    if not name or len(name) > 1024:
        raise ValidationError([FieldError("asset", "invalid_format", "not an asset id")])
    return name


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def asset_view(row: dict[str, Any]) -> dict[str, Any]:
    reason = row.get("reason")
    g = guide(reason) if isinstance(reason, str) and reason in _KNOWN else None
    return {
        "id": asset_id(str(row["name"])),
        "name": row["name"],
        "kind": row.get("kind", "other"),
        "format": row.get("format"),
        "size": as_int(row.get("size")),
        "etag": str(row.get("etag") or ""),
        "lastModified": _iso(row.get("lastModified")),
        "status": row.get("status"),
        "reason": reason,
        "reasonTitle": g.title if g else None,
        "detail": row.get("detail"),
        "fix": g.fix if g else None,
        "width": row.get("width"),
        "height": row.get("height"),
        "durationSeconds": row.get("durationSeconds"),
        "dataRows": int(row.get("dataRows") or 0),
        "pixelFormat": row.get("pixelFormat"),
        "majorBrand": row.get("majorBrand"),
        "codec": row.get("codec"),
    }
