"""Pure planning for the sync orchestrator: slices of a staged page and waves of work."""

from __future__ import annotations

from typing import TypedDict

__all__ = ["Slice", "slices", "waves"]


class Slice(TypedDict):
    ref: str
    start: int
    end: int


def slices(ref: str | None, changed: int, batch_size: int) -> list[Slice]:
    if ref is None or changed <= 0:
        return []
    return [
        Slice(ref=ref, start=s, end=min(s + batch_size, changed))
        for s in range(0, changed, batch_size)
    ]


def waves(items: list[Slice], in_flight: int) -> list[list[Slice]]:
    """Split work into waves of at most ``in_flight`` activities (at least one wave)."""
    if not items:
        return [[]]
    return [items[i : i + in_flight] for i in range(0, len(items), in_flight)]
