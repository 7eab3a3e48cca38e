"""Content detection from the first bytes of a blob (magic numbers, never the name).

:func:`sniff` returns a :class:`Sniffed` with a ``format`` id and a ``family``:

* ``image`` / ``video`` — a supported format; the format parser decides the verdict.
* ``unsupported_image`` / ``unsupported_video`` — recognised media we do not import (HEIC, AVIF,
  JPEG 2000, JPEG XL, PSD, ICO, SVG, PDF; MPEG-TS, MPEG-PS, RealMedia).
* ``audio`` — sound only (MP3, WAV, FLAC, M4A, Ogg Vorbis/Opus, WMA, AIFF, AMR).
* ``other`` — recognised non-media (archives, documents, executables, data files).
* ``text`` — no signature, and the bytes read as text (JSON, CSV, XML, TXT, ...).
* ``unknown`` — no signature, binary.

Containers that can hold audio only (ISO BMFF, Ogg, ASF, FLV, Matroska) are refined by their
parsers once the tracks are known.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["ASF_AUDIO", "ASF_HEADER", "ASF_VIDEO", "Family", "Sniffed", "brand_format", "sniff"]

Family = Literal[
    "image",
    "video",
    "unsupported_image",
    "unsupported_video",
    "audio",
    "other",
    "text",
    "unknown",
]


@dataclass(frozen=True)
class Sniffed:
    format: str | None
    family: Family


ASF_HEADER: Final = uuid.UUID("75B22630-668E-11CF-A6D9-00AA0062CE6C").bytes_le
ASF_VIDEO: Final = uuid.UUID("BC19EFC0-5B4D-11CF-A8FD-00805F5C442B").bytes_le
ASF_AUDIO: Final = uuid.UUID("F8699E40-5B4D-11CF-A8FD-00805F5C442B").bytes_le

_QT_TOP_LEVEL = frozenset({b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})

#: (prefix, format, family) checked in order.
_PREFIXES: Final[tuple[tuple[bytes, str, Family], ...]] = (
    (b"\xff\xd8\xff", "jpeg", "image"),
    (b"\x89PNG\r\n\x1a\n", "png", "image"),
    (b"GIF87a", "gif", "image"),
    (b"GIF89a", "gif", "image"),
    (b"II*\x00", "tiff", "image"),
    (b"MM\x00*", "tiff", "image"),
    (b"II+\x00", "tiff", "image"),
    (b"MM\x00+", "tiff", "image"),
    (b"\x1aE\xdf\xa3", "matroska", "video"),
    (b"FLV\x01", "flv", "video"),
    (b"OggS\x00", "ogg", "video"),
    (ASF_HEADER, "asf", "video"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jpeg2000", "unsupported_image"),
    (b"\xff\x4f\xff\x51", "jpeg2000", "unsupported_image"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jpegxl", "unsupported_image"),
    (b"\xff\x0a", "jpegxl", "unsupported_image"),
    (b"8BPS", "psd", "unsupported_image"),
    (b"%PDF-", "pdf", "unsupported_image"),
    (b"\x00\x00\x01\xba", "mpeg", "unsupported_video"),
    (b"\x00\x00\x01\xb3", "mpeg", "unsupported_video"),
    (b".RMF", "realmedia", "unsupported_video"),
    (b"fLaC", "flac", "audio"),
    (b"#!AMR", "amr", "audio"),
    (b"PK\x03\x04", "zip", "other"),
    (b"PK\x05\x06", "zip", "other"),
    (b"\x1f\x8b", "gzip", "other"),
    (b"7z\xbc\xaf\x27\x1c", "7z", "other"),
    (b"Rar!\x1a\x07", "rar", "other"),
    (b"\xfd7zXZ\x00", "xz", "other"),
    (b"\x28\xb5\x2f\xfd", "zstd", "other"),
    (b"\x7fELF", "elf", "other"),
    (b"MZ", "exe", "other"),
    (b"PAR1", "parquet", "other"),
    (b"SQLite format 3\x00", "sqlite", "other"),
    (b"\x93NUMPY", "npy", "other"),
    (b"\x89HDF\r\n\x1a\n", "hdf5", "other"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2", "other"),
)

_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_TEXT_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B, 0x08}


def brand_format(major: bytes, compatible: frozenset[bytes]) -> Sniffed:
    """ISO base media file format: the ``ftyp`` brands decide the flavour."""
    if major in _AVIF_BRANDS or (major == b"mif1" and compatible & _AVIF_BRANDS):
        return Sniffed("avif", "unsupported_image")
    if major in _HEIF_BRANDS:
        return Sniffed("heic", "unsupported_image")
    if major == b"crx ":
        return Sniffed("cr3", "unsupported_image")
    if major in (b"jp2 ", b"jpx ", b"mjp2"):
        return Sniffed("jpeg2000", "unsupported_image")
    if major in _AUDIO_BRANDS:
        return Sniffed("m4a", "audio")
    if major == b"qt  ":
        return Sniffed("mov", "video")
    if major[:3] in (b"3gp", b"3g2", b"3ge", b"3gg", b"3gr", b"3gs"):
        return Sniffed("3gp", "video")
    if major[:3] == b"M4V":
        return Sniffed("m4v", "video")
    return Sniffed("mp4", "video")


def _iso_bmff(head: bytes) -> Sniffed | None:
    if len(head) < 12:
        return None
    size, box = struct.unpack_from(">I4s", head, 0)
    if box == b"ftyp":
        if size < 16 and size != 0:
            return None
        major = head[8:12]
        end = min(len(head), size if size >= 16 else len(head))
        compatible = frozenset(head[i : i + 4] for i in range(16, end - 3, 4))
        return brand_format(major, compatible)
    if box in _QT_TOP_LEVEL and (size in (0, 1) or size >= 8):
        return Sniffed("mov", "video")
    return None


def _riff(head: bytes) -> Sniffed | None:
    if len(head) < 12 or head[:4] != b"RIFF":
        return None
    kind = head[8:12]
    if kind == b"WEBP":
        return Sniffed("webp", "image")
    if kind in (b"AVI ", b"AVIX"):
        return Sniffed("avi", "video")
    if kind == b"WAVE":
        return Sniffed("wav", "audio")
    return Sniffed("riff", "other")


def _bmp(head: bytes) -> bool:
    if len(head) < 18 or head[:2] != b"BM":
        return False
    (header_size,) = struct.unpack_from("<I", head, 14)
    return header_size in _BMP_HEADER_SIZES


def _ico(head: bytes) -> bool:
    if len(head) < 22 or head[:4] not in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"):
        return False
    (count,) = struct.unpack_from("<H", head, 4)
    return 0 < count <= 256 and head[9] == 0


def _mpegts(head: bytes) -> bool:
    if len(head) < 188 * 3:
        return False
    for stride, start in ((188, 0), (192, 4)):
        if all(
            head[start + i * stride] == 0x47 for i in range(3) if start + i * stride < len(head)
        ):
            return True
    return False


def _mp3_frame(head: bytes) -> bool:
    return len(head) >= 4 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and head[1] & 0x06 != 0


def looks_like_text(head: bytes) -> bool:
    """No NUL bytes (or a UTF-16 BOM), and nearly no control characters."""
    if not head:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    sample = head[:8192]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut_at_end = exc.reason == "unexpected end of data" and exc.start >= len(sample) - 3
        if not cut_at_end:
            # Legacy 8-bit text (Windows-1252 CSV and the like) is still text.
            printable = sum(1 for b in sample if b >= 0x20 or b in b"\t\r\n")
            if printable < 0.95 * len(sample):
                return False
    controls = sum(1 for b in sample if b in _TEXT_CONTROL)
    return controls <= len(sample) // 100


def _svg(head: bytes) -> bool:
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg"):
        return True
    return text.startswith((b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in text


def sniff(head: bytes) -> Sniffed:
    """Identify content from its first bytes (at least 4 KiB when the blob has them)."""
    for prefix, fmt, family in _PREFIXES:
        if head.startswith(prefix):
            return Sniffed(fmt, family)
    for probe in (_iso_bmff, _riff):
        found = probe(head)
        if found is not None:
            return found
    if _bmp(head):
        return Sniffed("bmp", "image")
    if _ico(head):
        return Sniffed("ico", "unsupported_image")
    if head.startswith(b"ID3") and len(head) >= 5 and head[3] in (2, 3, 4) and head[4] != 0xFF:
        return Sniffed("mp3", "audio")
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
        return Sniffed("bzip2", "other")
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed("aiff", "audio")
    if _mpegts(head):
        return Sniffed("mpegts", "unsupported_video")
    if looks_like_text(head):
        if _svg(head):
            return Sniffed("svg", "unsupported_image")
        return Sniffed("text", "text")
    if _mp3_frame(head):
        return Sniffed("mp3", "audio")
    return Sniffed(None, "unknown")
