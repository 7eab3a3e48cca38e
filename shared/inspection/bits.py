"""Bit-level reading for codec headers (H.264/HEVC parameter sets, VP9 frame headers)."""

from __future__ import annotations

__all__ = ["BitReader", "BitstreamError", "unescape_rbsp"]


class BitstreamError(ValueError):
    """The bitstream ended early or holds an impossible value."""


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes: every ``00 00 03`` becomes ``00 00``."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class BitReader:
    """MSB-first reader with Exp-Golomb codes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._end = len(data) * 8

    @property
    def bits_left(self) -> int:
        return self._end - self._pos

    def u(self, n: int) -> int:
        """Read an ``n``-bit unsigned integer."""
        if n == 0:
            return 0
        if self._pos + n > self._end:
            raise BitstreamError("bitstream ended")
        value = 0
        for _ in range(n):
            byte = self._data[self._pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def flag(self) -> bool:
        return self.u(1) == 1

    def skip(self, n: int) -> None:
        if self._pos + n > self._end:
            raise BitstreamError("bitstream ended")
        self._pos += n

    def ue(self) -> int:
        """Unsigned Exp-Golomb ``ue(v)``."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("Exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Signed Exp-Golomb ``se(v)``."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)
