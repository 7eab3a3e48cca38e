"""Image headers by walking their structure with small ranged reads.

Each parser returns width, height and the EXIF orientation (``None`` when there is no tag) the
way Pillow reports them (``Image.size``, ``getexif().get(0x0112)``), reading only what it needs:

* JPEG — markers from SOI to SOS; the first ``APP1`` starting ``Exif\\0\\0`` holds the EXIF.
  Segments are skipped by their length: each segment header past the first read costs one small
  read (EXIF behind 100 KiB of ICC/COM segments: two or three requests, ~80 KiB).
* PNG — chunks from IHDR to the first IDAT; ``eXIf`` is read where it stands. The PNG spec puts
  it before IDAT; one placed after IDAT is not seen (finding it would mean walking every IDAT).
* WebP — RIFF chunks; the ``EXIF`` chunk (usually last) is reached by hopping over the bitstream.
* TIFF (and BigTIFF) — the first IFD wherever it is; orientation is the native tag 274. Width
  and height are the stored pixel grid (Pillow 13 reports TIFF sizes already rotated for
  orientations 5-8).
* BMP, GIF — fixed headers; they carry no EXIF.

Structure checks that need no extra request are applied (RIFF/BMP sizes, TIFF strip extents when
the offsets are at hand, PNG IHDR CRC, a PNG chunk up to the first IDAT running past the blob's
listed size). Truncation inside JPEG pixel data, or after the first IDAT of a PNG, is not detected:
that would need the whole file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from shared.inspection.errors import Corrupt, Unsupported
from shared.inspection.reader import CachingReader

__all__ = ["HOP", "ImageFacts", "inspect_image", "orientation_in_tiff"]

#: How much to fetch when a walk jumps past what has been read.
HOP = 8 * 1024

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_TIFF_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}
_TAG_WIDTH, _TAG_HEIGHT, _TAG_ORIENTATION = 256, 257, 274
_TAG_STRIP_OFFSETS, _TAG_STRIP_COUNTS = 273, 279
_TAG_TILE_OFFSETS, _TAG_TILE_COUNTS = 324, 325


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    orientation: int | None


@dataclass(frozen=True)
class _Entry:
    type: int
    count: int
    #: Absolute offset of the value (inline or out of line).
    value_at: int
    #: Byte order: "<" or ">".
    order: str

    @property
    def nbytes(self) -> int:
        return _TIFF_TYPE_SIZES.get(self.type, 1) * self.count


class _TiffError(ValueError):
    pass


async def _read_ifd0(src: CachingReader, base: int, limit: int) -> dict[int, _Entry]:
    """Entries of the first IFD of a TIFF structure that starts at ``base`` and ends at ``limit``."""
    head = await src.read(base, 16, readahead=HOP)
    if len(head) < 8:
        raise _TiffError("TIFF header cut short")
    if head[:2] == b"II":
        order = "<"
    elif head[:2] == b"MM":
        order = ">"
    else:
        raise _TiffError("bad TIFF byte order")
    (magic,) = struct.unpack_from(order + "H", head, 2)
    if magic == 42:
        (ifd,) = struct.unpack_from(order + "I", head, 4)
        count_fmt, entry_size, count_size, value_size = "H", 12, 2, 4
    elif magic == 43 and len(head) >= 16:
        (ifd,) = struct.unpack_from(order + "Q", head, 8)
        count_fmt, entry_size, count_size, value_size = "Q", 20, 8, 8
    else:
        raise _TiffError("bad TIFF magic")
    at = base + ifd
    if ifd < 8 or at + count_size > limit:
        raise _TiffError("first IFD outside the data")
    raw_count = await src.read(at, count_size, readahead=HOP)
    (count,) = struct.unpack(order + count_fmt, raw_count)
    if count == 0 or at + count_size + count * entry_size > limit or count > 4096:
        raise _TiffError("bad IFD entry count")
    table = await src.read(at + count_size, count * entry_size)
    entries: dict[int, _Entry] = {}
    for i in range(count):
        off = i * entry_size
        if value_size == 4:
            tag, typ, n = struct.unpack_from(order + "HHI", table, off)
        else:
            tag, typ, n = struct.unpack_from(order + "HHQ", table, off)
        value_field = at + count_size + off + entry_size - value_size
        nbytes = _TIFF_TYPE_SIZES.get(typ, 1) * n
        if nbytes <= value_size:
            value_at = value_field
        else:
            raw = table[off + entry_size - value_size : off + entry_size]
            (rel,) = struct.unpack(order + ("I" if value_size == 4 else "Q"), raw)
            value_at = base + rel
        entries.setdefault(tag, _Entry(typ, n, value_at, order))
    return entries


def _scalar(entry: _Entry, raw: bytes) -> int | None:
    fmt = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q"}.get(entry.type)
    if fmt is None or entry.count < 1 or len(raw) < struct.calcsize(fmt):
        return None
    return int(struct.unpack_from(entry.order + fmt, raw, 0)[0])


#: Largest TIFF tag value worth reading (offset arrays of big TIFFs stay well below).
_MAX_VALUE = 256 * 1024
#: Largest PNG ``eXIf`` chunk we read (EXIF is limited to 64 KiB in JPEG; PNG allows more).
_MAX_PNG_EXIF = 4 * 1024 * 1024


async def _value(src: CachingReader, entry: _Entry, *, only_cached: bool = False) -> bytes | None:
    if entry.nbytes > _MAX_VALUE:
        return None
    if only_cached:
        return src.cached(entry.value_at, entry.nbytes)
    return await src.read(entry.value_at, entry.nbytes)


async def orientation_in_tiff(src: CachingReader, base: int, limit: int) -> int | None:
    """EXIF orientation from a TIFF structure (EXIF payload); ``None`` if absent or unreadable.

    Malformed EXIF is treated like no EXIF, as viewers ignore it.
    """
    try:
        entries = await _read_ifd0(src, base, limit)
    except (_TiffError, struct.error):
        return None
    entry = entries.get(_TAG_ORIENTATION)
    if entry is None:
        return None
    raw = await _value(src, entry)
    return _scalar(entry, raw or b"")


async def _jpeg(src: CachingReader) -> ImageFacts:
    size = src.size
    pos = 2
    dims: tuple[int, int] | None = None
    orientation: int | None = None
    exif_seen = False
    while True:
        head = await src.read(pos, 4, readahead=HOP)
        if len(head) < 2:
            raise Corrupt(f"jpeg ends at byte {pos} before the image data")
        if head[0] != 0xFF:
            raise Corrupt(f"jpeg marker expected at byte {pos}")
        marker = head[1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD8, 0xD9, 0x00):
            raise Corrupt(f"jpeg has an unexpected marker 0xFF{marker:02X} at byte {pos}")
        if len(head) < 4:
            raise Corrupt(f"jpeg ends at byte {pos} inside a segment header")
        (length,) = struct.unpack_from(">H", head, 2)
        body, end = pos + 4, pos + 2 + length
        if length < 2 or end > size:
            raise Corrupt(f"jpeg segment 0xFF{marker:02X} at byte {pos} runs past the end")
        if marker == 0xDA:
            if dims is None:
                raise Corrupt("jpeg has no frame header before its image data")
            return ImageFacts(dims[0], dims[1], orientation)
        if marker in _JPEG_SOF and dims is None:
            sof = await src.read(body, 6, readahead=HOP)
            if length < 8 or len(sof) < 6:
                raise Corrupt("jpeg frame header is too short")
            height, width = struct.unpack_from(">HH", sof, 1)
            if width == 0 or height == 0 or sof[5] == 0:
                raise Corrupt(f"jpeg frame header says {width}x{height}")
            dims = (width, height)
        elif (
            marker == 0xE1
            and not exif_seen
            and length >= 8
            and await src.read(body, 6, readahead=HOP) == b"Exif\x00\x00"
        ):
            exif_seen = True
            orientation = await orientation_in_tiff(src, body + 6, end)
        pos = end


async def _png(src: CachingReader) -> ImageFacts:
    size = src.size
    ihdr = await src.read(8, 25)
    if len(ihdr) < 25 or ihdr[:8] != b"\x00\x00\x00\x0dIHDR":
        raise Corrupt("png does not start with an IHDR chunk")
    if zlib.crc32(ihdr[4:21]) != struct.unpack_from(">I", ihdr, 21)[0]:
        raise Corrupt("png IHDR checksum mismatch")
    width, height, depth, colour, _comp, _filt, interlace = struct.unpack_from(">IIBBBBB", ihdr, 8)
    if width == 0 or height == 0 or depth not in _PNG_DEPTHS.get(colour, ()) or interlace > 1:
        raise Corrupt(f"png header is invalid ({width}x{height}, depth {depth}, colour {colour})")
    orientation: int | None = None
    pos = 33
    while True:
        head = await src.read(pos, 8, readahead=HOP)
        if len(head) < 8:
            raise Corrupt(f"png ends at byte {pos} before the image data")
        length, kind = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF or pos + 12 + length > size:
            raise Corrupt(f"png chunk {kind!r} at byte {pos} runs past the end")
        if kind == b"IDAT":  # its declared length fits the blob; the pixels are not read
            return ImageFacts(width, height, orientation)
        if kind == b"IEND":
            raise Corrupt("png has no image data")
        if kind == b"eXIf":
            if length > _MAX_PNG_EXIF:
                raise Corrupt(f"png eXIf chunk of {length} bytes")
            chunk = await src.read(pos + 4, length + 8)
            if zlib.crc32(chunk[:-4]) != struct.unpack(">I", chunk[-4:])[0]:
                raise Corrupt("png eXIf checksum mismatch")
            start = pos + 8 + (6 if chunk[4:10] == b"Exif\x00\x00" else 0)
            orientation = await orientation_in_tiff(src, start, pos + 8 + length)
        pos += 12 + length


async def _webp(src: CachingReader) -> ImageFacts:
    size = src.size
    head = await src.read(0, 30, readahead=HOP)
    (riff_size,) = struct.unpack_from("<I", head, 4)
    end = 8 + riff_size
    if riff_size < 4 + 8 or end > size:
        raise Corrupt(f"webp RIFF size {riff_size} does not fit the file ({size} bytes)")
    if len(head) < 30:
        raise Corrupt("webp header cut short")
    kind, length = struct.unpack_from("<4sI", head, 12)
    data = head[20:30]
    if 20 + length > end:
        raise Corrupt(f"webp chunk {kind!r} runs past the end")
    if kind == b"VP8 ":
        if data[3:6] != b"\x9d\x01\x2a":
            raise Corrupt("webp VP8 start code missing")
        width, height = struct.unpack_from("<HH", data, 6)
        return ImageFacts(width & 0x3FFF, height & 0x3FFF, None)
    if kind == b"VP8L":
        if data[0] != 0x2F:
            raise Corrupt("webp VP8L signature missing")
        (bits,) = struct.unpack_from("<I", data, 1)
        return ImageFacts((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, None)
    if kind != b"VP8X":
        raise Corrupt(f"webp starts with an unknown chunk {kind!r}")
    flags = data[0]
    width = int.from_bytes(data[4:7], "little") + 1
    height = int.from_bytes(data[7:10], "little") + 1
    orientation: int | None = None
    if flags & 0x08:
        pos = 20 + length + (length & 1)
        while pos + 8 <= end:
            chunk = await src.read(pos, 8, readahead=HOP)
            kind, length = struct.unpack("<4sI", chunk)
            if pos + 8 + length > end:
                raise Corrupt(f"webp chunk {kind!r} runs past the end")
            if kind == b"EXIF":
                start = pos + 8
                if await src.read(start, 6, readahead=HOP) == b"Exif\x00\x00":
                    start += 6
                orientation = await orientation_in_tiff(src, start, pos + 8 + length)
                break
            pos += 8 + length + (length & 1)
    return ImageFacts(width, height, orientation)


async def _tiff(src: CachingReader) -> ImageFacts:
    size = src.size
    try:
        entries = await _read_ifd0(src, 0, size)
    except (_TiffError, struct.error) as exc:
        raise Corrupt(f"tiff: {exc}") from exc
    values: dict[int, int | None] = {}
    for tag in (_TAG_WIDTH, _TAG_HEIGHT, _TAG_ORIENTATION):
        entry = entries.get(tag)
        if entry is not None:
            values[tag] = _scalar(entry, await _value(src, entry) or b"")
    width, height = values.get(_TAG_WIDTH), values.get(_TAG_HEIGHT)
    if not width or not height:
        raise Corrupt("tiff has no image size")
    for offsets_tag, counts_tag in (
        (_TAG_STRIP_OFFSETS, _TAG_STRIP_COUNTS),
        (_TAG_TILE_OFFSETS, _TAG_TILE_COUNTS),
    ):
        offsets, counts = entries.get(offsets_tag), entries.get(counts_tag)
        if offsets is None or counts is None or offsets.count != counts.count:
            continue
        raw_o = await _value(src, offsets, only_cached=True)
        raw_c = await _value(src, counts, only_cached=True)
        if raw_o is None or raw_c is None:
            continue  # the arrays are elsewhere: not worth a request
        extent = _max_extent(offsets, raw_o, counts, raw_c)
        if extent is not None and extent > size:
            raise Corrupt(f"tiff image data runs to byte {extent}, past the end ({size})")
    return ImageFacts(width, height, values.get(_TAG_ORIENTATION))


def _array(entry: _Entry, raw: bytes) -> list[int] | None:
    fmt = {3: "H", 4: "I", 16: "Q"}.get(entry.type)
    if fmt is None or len(raw) < entry.nbytes:
        return None
    return list(struct.unpack_from(f"{entry.order}{entry.count}{fmt}", raw, 0))


def _max_extent(offsets: _Entry, raw_o: bytes, counts: _Entry, raw_c: bytes) -> int | None:
    starts, lengths = _array(offsets, raw_o), _array(counts, raw_c)
    if not starts or not lengths:
        return None
    return max(s + n for s, n in zip(starts, lengths, strict=True))


async def _bmp(src: CachingReader) -> ImageFacts:
    size = src.size
    head = await src.read(0, 54, readahead=HOP)
    if len(head) < 26:
        raise Corrupt("bmp header cut short")
    (data_at,) = struct.unpack_from("<I", head, 10)
    (header_size,) = struct.unpack_from("<I", head, 14)
    if header_size == 12:
        width, height, _planes, bpp = struct.unpack_from("<HHHH", head, 18)
        compression, image_size = 0, 0
    else:
        if len(head) < 38:
            raise Corrupt("bmp header cut short")
        width, height, _planes, bpp, compression, image_size = struct.unpack_from(
            "<iiHHII", head, 18
        )
    if width <= 0 or height == 0 or bpp not in (1, 2, 4, 8, 16, 24, 32):
        raise Corrupt(f"bmp header is invalid ({width}x{height}, {bpp} bits)")
    if compression in (4, 5):
        raise Unsupported("bmp with embedded JPEG/PNG data")
    if compression not in (0, 1, 2, 3, 6):
        raise Corrupt(f"bmp compression {compression} is unknown")
    if data_at >= size:
        raise Corrupt("bmp pixel data starts past the end")
    rows = abs(height)
    if compression in (0, 3, 6):
        need = data_at + ((bpp * width + 31) // 32) * 4 * rows
    else:
        need = data_at + image_size
    if need > size:
        raise Corrupt(f"bmp pixel data needs {need} bytes, the file has {size}")
    return ImageFacts(width, rows, None)


async def _gif(src: CachingReader) -> ImageFacts:
    head = await src.read(0, 13, readahead=HOP)
    if len(head) < 13:
        raise Corrupt("gif header cut short")
    width, height = struct.unpack_from("<HH", head, 6)
    return ImageFacts(width, height, None)


_PARSERS = {"jpeg": _jpeg, "png": _png, "webp": _webp, "tiff": _tiff, "bmp": _bmp, "gif": _gif}


async def inspect_image(fmt: str, src: CachingReader) -> ImageFacts:
    """Facts about an image of a supported ``fmt``; raises Corrupt/Unsupported."""
    try:
        return await _PARSERS[fmt](src)
    except struct.error as exc:
        raise Corrupt(f"{fmt} header cut short") from exc
