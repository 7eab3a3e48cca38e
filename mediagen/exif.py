"""A small EXIF (TIFF structure) writer: the tags cameras write, an optional IFD1 thumbnail.

The result has no ``Exif\\0\\0`` prefix; JPEG's APP1 adds it, PNG ``eXIf`` and WebP ``EXIF``
store it bare.
"""

from __future__ import annotations

import struct

__all__ = ["exif"]

_ASCII, _SHORT, _LONG = 2, 3, 4


def _entry_value(order: str, typ: int, value: int | str) -> tuple[int, bytes]:
    if typ == _ASCII:
        raw = str(value).encode("ascii") + b"\x00"
        return len(raw), raw
    if typ == _SHORT:
        return 1, struct.pack(order + "H", int(value))
    return 1, struct.pack(order + "I", int(value))


def _ifd(order: str, start: int, entries: list[tuple[int, int, int | str]], next_ifd: int) -> bytes:
    """Serialise one IFD placed at ``start``; out-of-line values follow the entry table."""
    table = bytearray(struct.pack(order + "H", len(entries)))
    data = bytearray()
    data_at = start + 2 + 12 * len(entries) + 4
    for tag, typ, value in sorted(entries):
        count, raw = _entry_value(order, typ, value)
        if len(raw) <= 4:
            field = raw.ljust(4, b"\x00")
        else:
            field = struct.pack(order + "I", data_at + len(data))
            data += raw + (b"\x00" if len(raw) % 2 else b"")
        table += struct.pack(order + "HHI", tag, typ, count) + field
    table += struct.pack(order + "I", next_ifd)
    return bytes(table + data)


def exif(
    orientation: int | None = None,
    *,
    make: str | None = "Contoso",
    model: str | None = "FieldCam 7",
    software: str | None = None,
    datetime: str | None = "2024:05:17 10:42:00",
    thumbnail: bytes | None = None,
    big_endian: bool = True,
    orientation_type: int = _SHORT,
) -> bytes:
    """EXIF payload (TIFF header + IFD0 [+ IFD1 with a JPEG thumbnail])."""
    order = ">" if big_endian else "<"
    header = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(order + "I", 8)
    entries: list[tuple[int, int, int | str]] = []
    if make:
        entries.append((0x010F, _ASCII, make))
    if model:
        entries.append((0x0110, _ASCII, model))
    if orientation is not None:
        entries.append((0x0112, orientation_type, orientation))
    if software:
        entries.append((0x0131, _ASCII, software))
    if datetime:
        entries.append((0x0132, _ASCII, datetime))
    if not entries:
        entries.append((0x0131, _ASCII, "mediagen"))
    ifd0_probe = _ifd(order, 8, entries, 0)
    if thumbnail is None:
        return header + ifd0_probe
    ifd1_at = 8 + len(ifd0_probe)
    ifd0 = _ifd(order, 8, entries, ifd1_at)
    thumb_entries: list[tuple[int, int, int | str]] = [(0x0103, _SHORT, 6)]
    ifd1_len = len(
        _ifd(order, ifd1_at, [*thumb_entries, (0x0201, _LONG, 0), (0x0202, _LONG, 0)], 0)
    )
    thumb_at = ifd1_at + ifd1_len
    thumb_entries += [(0x0201, _LONG, thumb_at), (0x0202, _LONG, len(thumbnail))]
    ifd1 = _ifd(order, ifd1_at, thumb_entries, 0)
    return header + ifd0 + ifd1 + thumbnail
