"""Damaged copies of good files: cut short or overwritten."""

from __future__ import annotations

import random

__all__ = ["garble", "truncate"]


def truncate(data: bytes, keep: int | float) -> bytes:
    """The first ``keep`` bytes (an int) or that fraction of the file (a float in (0, 1))."""
    if isinstance(keep, float):
        if not 0 < keep < 1:
            raise ValueError("a fraction to keep must be between 0 and 1")
        keep = int(len(data) * keep)
    return data[:keep]


def garble(data: bytes, offset: int, length: int, *, seed: int = 0) -> bytes:
    """Overwrite ``length`` bytes at ``offset`` with random bytes (different from the old ones)."""
    noise = bytearray(random.Random(seed).randbytes(length))
    for i in range(length):
        if offset + i < len(data) and noise[i] == data[offset + i]:
            noise[i] ^= 0xFF
    return data[:offset] + bytes(noise) + data[offset + length :]
