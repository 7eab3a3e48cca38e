"""Values of the inspection engine: the blob to inspect, the verdict, and its JSON wire shape."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TypedDict

from shared.reasons import Reason

__all__ = [
    "BlobRef",
    "Cost",
    "CostJson",
    "Kind",
    "Outcome",
    "Verdict",
    "VerdictJson",
    "read_failed_verdict",
]


class Kind(str, Enum):
    """What a blob is to the platform."""

    IMAGE = "image"
    VIDEO = "video"
    OTHER = "other"


class Outcome(str, Enum):
    """What the sync does with a blob: import it, list it in the skip report, or only count it."""

    ACCEPTED = "accepted"
    SKIPPED = "skipped"
    IGNORED = "ignored"


@dataclass(frozen=True)
class BlobRef:
    """One listed blob: what the listing says about it, before any byte is read."""

    name: str
    size: int
    content_type: str | None = None
    etag: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Cost:
    """What one inspection cost: storage reads issued, bytes received, PyAV fallback or not."""

    requests: int = 0
    bytes_read: int = 0
    used_fallback: bool = False


class CostJson(TypedDict):
    requests: int
    bytes_read: int
    used_fallback: bool


class VerdictJson(TypedDict):
    name: str
    size: int
    etag: str | None
    kind: str
    format: str | None
    outcome: str
    reason: str | None
    detail: str
    width: int | None
    height: int | None
    orientation: int | None
    codec: str | None
    pix_fmt: str | None
    major_brand: str | None
    duration: float | None
    frame_rate: float | None
    cost: CostJson


@dataclass(frozen=True)
class Verdict:
    """The decision for one blob.

    ``format`` is the detected content format (``jpeg``, ``png``, ``mp4``, ``webm``, ...; for
    videos it is the container), or ``None`` when the content is not recognised. ``reason`` is set
    exactly when ``outcome`` is ``skipped``; ``detail`` is a short human text such as
    ``orientation=6`` or ``major_brand=isom``. Metadata fields are ``None`` when unknown or not
    cheap to learn. ``duration`` is in seconds, ``frame_rate`` in frames per second.
    """

    name: str
    size: int
    kind: Kind
    outcome: Outcome
    format: str | None = None
    reason: Reason | None = None
    detail: str = ""
    etag: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    codec: str | None = None
    pix_fmt: str | None = None
    major_brand: str | None = None
    duration: float | None = None
    frame_rate: float | None = None
    cost: Cost = field(default_factory=Cost)

    def __post_init__(self) -> None:
        if (self.outcome is Outcome.SKIPPED) != (self.reason is not None):
            raise ValueError("a verdict has a reason exactly when it is skipped")
        if self.outcome is Outcome.IGNORED and self.kind is not Kind.OTHER:
            raise ValueError("only kind 'other' is ignored")
        # The content of an unreadable blob is unknown: the one skip of kind 'other'.
        other_skipped = self.kind is Kind.OTHER and self.outcome is not Outcome.IGNORED
        if other_skipped and self.reason is not Reason.READ_FAILED:
            raise ValueError("kind 'other' is ignored unless it could not be read")
        for value in (self.duration, self.frame_rate):
            if value is not None and not math.isfinite(value):
                raise ValueError("duration and frame rate must be finite")

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    def to_json(self) -> VerdictJson:
        """Plain JSON (str, int, float, bool, None, dict) for queues and durable payloads."""
        return {
            "name": self.name,
            "size": self.size,
            "etag": self.etag,
            "kind": self.kind.value,
            "format": self.format,
            "outcome": self.outcome.value,
            "reason": self.reason.value if self.reason is not None else None,
            "detail": self.detail,
            "width": self.width,
            "height": self.height,
            "orientation": self.orientation,
            "codec": self.codec,
            "pix_fmt": self.pix_fmt,
            "major_brand": self.major_brand,
            "duration": self.duration,
            "frame_rate": self.frame_rate,
            "cost": {
                "requests": self.cost.requests,
                "bytes_read": self.cost.bytes_read,
                "used_fallback": self.cost.used_fallback,
            },
        }

    @classmethod
    def from_json(cls, data: VerdictJson) -> Verdict:
        reason = data.get("reason")
        cost = data["cost"]
        return cls(
            name=data["name"],
            size=int(data["size"]),
            etag=data.get("etag"),
            kind=Kind(data["kind"]),
            format=data.get("format"),
            outcome=Outcome(data["outcome"]),
            reason=Reason(reason) if reason is not None else None,
            detail=data.get("detail", ""),
            width=data.get("width"),
            height=data.get("height"),
            orientation=data.get("orientation"),
            codec=data.get("codec"),
            pix_fmt=data.get("pix_fmt"),
            major_brand=data.get("major_brand"),
            duration=data.get("duration"),
            frame_rate=data.get("frame_rate"),
            cost=Cost(
                requests=int(cost["requests"]),
                bytes_read=int(cost["bytes_read"]),
                used_fallback=bool(cost["used_fallback"]),
            ),
        )


def read_failed_verdict(blob: BlobRef, kind: Kind, detail: str) -> Verdict:
    """The verdict the sync engine records when a blob could not be read after retries.

    ``kind`` is usually :func:`shared.inspection.formats.claimed_kind` of the blob (image or
    video by name or content type, else ``other``: the content is unknown). ``detail`` must not
    carry URLs or credentials; :class:`~shared.inspection.reader.ReadError` messages never do.
    """
    return Verdict(
        name=blob.name,
        size=blob.size,
        etag=blob.etag,
        kind=kind,
        outcome=Outcome.SKIPPED,
        reason=Reason.READ_FAILED,
        detail=detail,
    )
