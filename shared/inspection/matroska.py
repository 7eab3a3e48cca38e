"""WebM / Matroska: DocType, the video track and its pixel format where cheap.

The EBML header gives the DocType (``webm`` or ``matroska``). The Segment's children are walked by
their headers until ``Tracks`` (and ``Info`` for the duration) have been read; for VP9 the first
key frame's header is read from the first ``Cluster`` when it is close. A Segment whose declared
size runs past the end of the file is ``corrupt`` (cut-off upload).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from shared.inspection import codecs
from shared.inspection.errors import Corrupt
from shared.inspection.reader import CachingReader

__all__ = ["MatroskaFacts", "container_format", "inspect_matroska"]

_EBML, _DOCTYPE = 0x1A45DFA3, 0x4282
_SEGMENT, _INFO, _TRACKS, _CLUSTER = 0x18538067, 0x1549A966, 0x1654AE6B, 0x1F43B675
_TIMESCALE, _DURATION = 0x2AD7B1, 0x4489
_TRACK_ENTRY, _TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID, _CODEC_PRIVATE = 0xAE, 0xD7, 0x83, 0x86, 0x63A2
_DEFAULT_DURATION, _VIDEO, _PIXEL_WIDTH, _PIXEL_HEIGHT = 0x23E383, 0xE0, 0xB0, 0xBA
_COLOUR, _MATRIX, _RANGE = 0x55B0, 0x55B1, 0x55B9
_SIMPLE_BLOCK, _BLOCK_GROUP, _BLOCK = 0xA3, 0xA0, 0xA1
_UNKNOWN = -1
#: Header reads past the head; Tracks normally sits within the first few KiB.
_MAX_HOPS = 6
_HOP = 8 * 1024
_MAX_ELEMENT = 16 * 1024 * 1024

_CODECS = {
    "V_VP8": "vp8",
    "V_VP9": "vp9",
    "V_AV1": "av1",
    "V_MPEG4/ISO/AVC": "h264",
    "V_MPEGH/ISO/HEVC": "hevc",
    "V_MPEG4/ISO/ASP": "mpeg4",
    "V_MPEG4/ISO/SP": "mpeg4",
    "V_MPEG2": "mpeg2video",
    "V_MPEG1": "mpeg1video",
    "V_THEORA": "theora",
    "V_PRORES": "prores",
    "V_MJPEG": "mjpeg",
    "V_FFV1": "ffv1",
}


@dataclass(frozen=True)
class MatroskaFacts:
    doctype: str
    has_video: bool
    has_audio: bool
    codec: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    frame_rate: float | None = None


def _vint(buf: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """Read an EBML variable-length integer; returns (value, length)."""
    if pos >= len(buf):
        raise Corrupt("EBML element cut short")
    first = buf[pos]
    if first == 0:
        raise Corrupt("bad EBML length marker")
    length = 9 - first.bit_length()
    if pos + length > len(buf):
        raise Corrupt("EBML element cut short")
    value = first if keep_marker else first & (0xFF >> length)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return _UNKNOWN, length
    return value, length


def _header(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(element id, data size or -1, header length) at ``pos``."""
    element, id_len = _vint(buf, pos, keep_marker=True)
    size, size_len = _vint(buf, pos + id_len, keep_marker=False)
    return element, size, id_len + size_len


def _children(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        element, size, header = _header(buf, pos)
        data = pos + header
        stop = end if size == _UNKNOWN else data + size
        if stop > end:
            raise Corrupt("EBML element runs past its parent")
        yield element, data, stop
        pos = stop


def _uint(buf: bytes, start: int, end: int) -> int:
    return int.from_bytes(buf[start:end], "big") if end > start else 0


def _float(buf: bytes, start: int, end: int) -> float | None:
    if end - start == 4:
        return float(struct.unpack(">f", buf[start:end])[0])
    if end - start == 8:
        return float(struct.unpack(">d", buf[start:end])[0])
    return None


@dataclass
class _Track:
    number: int = 0
    type: int = 0
    codec_id: str = ""
    private: bytes = b""
    default_duration: int = 0
    width: int = 0
    height: int = 0
    matrix: int | None = None
    range: int | None = None


def _parse_tracks(buf: bytes) -> list[_Track]:
    tracks = []
    for element, start, end in _children(buf, 0, len(buf)):
        if element != _TRACK_ENTRY:
            continue
        track = _Track()
        for el, s, e in _children(buf, start, end):
            if el == _TRACK_NUMBER:
                track.number = _uint(buf, s, e)
            elif el == _TRACK_TYPE:
                track.type = _uint(buf, s, e)
            elif el == _CODEC_ID:
                track.codec_id = buf[s:e].rstrip(b"\x00").decode("ascii", "replace")
            elif el == _CODEC_PRIVATE:
                track.private = buf[s:e]
            elif el == _DEFAULT_DURATION:
                track.default_duration = _uint(buf, s, e)
            elif el == _VIDEO:
                for v, vs, ve in _children(buf, s, e):
                    if v == _PIXEL_WIDTH:
                        track.width = _uint(buf, vs, ve)
                    elif v == _PIXEL_HEIGHT:
                        track.height = _uint(buf, vs, ve)
                    elif v == _COLOUR:
                        for c, cs, ce in _children(buf, vs, ve):
                            if c == _MATRIX:
                                track.matrix = _uint(buf, cs, ce)
                            elif c == _RANGE:
                                track.range = _uint(buf, cs, ce)
        tracks.append(track)
    return tracks


def _pix_fmt(track: _Track, codec: str | None) -> str | None:
    full = None if track.range is None else track.range == 2
    try:
        if codec == "vp8":
            return "yuv420p"
        if codec == "h264" and track.private:
            sps = codecs.avcc_first_sps(track.private)
            if sps is not None:
                return codecs.h264_pix_fmt(
                    codecs.parse_avc_sps(sps),
                    container_full_range=full,
                    container_matrix=track.matrix,
                )
        if codec == "hevc" and track.private:
            sps = codecs.hvcc_first_sps(track.private)
            if sps is not None:
                return codecs.hevc_pix_fmt(codecs.parse_hevc_sps(sps), container_full_range=full)
        if codec == "av1" and track.private:
            return codecs.av1_pix_fmt(track.private)
    except ValueError:
        return None
    return None


async def _first_frame(
    src: CachingReader, cluster_data: int, cluster_end: int, track: int
) -> bytes:
    """The first bytes of the first block of ``track`` in a cluster (only if cheap)."""
    buf = await src.read(cluster_data, min(cluster_end - cluster_data, _HOP))
    for element, start, end in _children_lenient(buf):
        if element == _BLOCK_GROUP:
            for el, s, e in _children_lenient(buf[start:end]):
                if el == _BLOCK:
                    frame = _block_frame(buf[start + s : start + e], track)
                    if frame:
                        return frame
        elif element == _SIMPLE_BLOCK:
            frame = _block_frame(buf[start:end], track)
            if frame:
                return frame
    return b""


def _children_lenient(buf: bytes) -> Iterator[tuple[int, int, int]]:
    """Children of a partially read element: stop quietly at the cut."""
    pos = 0
    while pos < len(buf):
        try:
            element, size, header = _header(buf, pos)
        except Corrupt:
            return
        data = pos + header
        stop = len(buf) if size == _UNKNOWN else min(len(buf), data + size)
        yield element, data, stop
        pos = stop


def _block_frame(block: bytes, track: int) -> bytes:
    try:
        number, length = _vint(block, 0, keep_marker=False)
    except Corrupt:
        return b""
    if number != track or len(block) < length + 3:
        return b""
    if block[length + 2] & 0x06:  # laced: frame sizes precede the data; not worth it
        return b""
    return block[length + 3 :]


def container_format(doctype: str) -> str:
    """Our format id for a Matroska DocType."""
    return "webm" if doctype == "webm" else "mkv"


async def inspect_matroska(src: CachingReader) -> MatroskaFacts:
    """DocType, tracks and video facts; raises Corrupt (with ``format`` once it is known)."""
    doctype = await _doctype(src)
    try:
        return await _inspect_segment(src, doctype)
    except Corrupt as exc:
        raise Corrupt(exc.detail, format=container_format(doctype)) from exc


async def _doctype(src: CachingReader) -> str:
    head = await src.read(0, 64, readahead=_HOP)
    element, ebml_size, header = _header(head, 0)
    if element != _EBML or ebml_size == _UNKNOWN or ebml_size > 4096:
        raise Corrupt("EBML header missing or malformed")
    ebml_end = header + ebml_size
    ebml = await src.read(0, ebml_end)
    doctype = "matroska"
    for el, s, e in _children(ebml, header, ebml_end):
        if el == _DOCTYPE:
            doctype = ebml[s:e].rstrip(b"\x00").decode("ascii", "replace")
    return doctype


async def _inspect_segment(src: CachingReader, doctype: str) -> MatroskaFacts:
    size = src.size
    head = await src.read(0, 64, readahead=_HOP)
    _element, ebml_size, header = _header(head, 0)
    ebml_end = header + ebml_size
    seg_head = await src.read(ebml_end, 12, readahead=_HOP)
    element, seg_size, header = _header(seg_head, 0)
    if element != _SEGMENT:
        raise Corrupt("Segment missing after the EBML header")
    seg_data = ebml_end + header
    seg_end = size if seg_size == _UNKNOWN else seg_data + seg_size
    if seg_end > size:
        raise Corrupt(f"Segment needs {seg_end} bytes, the file has {size} (truncated)")
    tracks: list[_Track] | None = None
    timescale, duration_ticks = 1_000_000, None
    cluster: tuple[int, int] | None = None
    pos, hops = seg_data, 0
    while pos < seg_end and hops <= _MAX_HOPS:
        if not src.is_cached(pos, 12):
            hops += 1
        head = await src.read(pos, 12, readahead=_HOP)
        element, el_size, header = _header(head, 0)
        data = pos + header
        end = seg_end if el_size == _UNKNOWN else data + el_size
        if end > seg_end:
            raise Corrupt(f"element 0x{element:X} runs past the Segment")
        if element in (_INFO, _TRACKS) and end - data <= _MAX_ELEMENT:
            if not src.is_cached(data, end - data):
                hops += 1
            body = await src.read(data, end - data)
            if element == _TRACKS:
                tracks = _parse_tracks(body)
            else:
                for el, s, e in _children(body, 0, len(body)):
                    if el == _TIMESCALE:
                        timescale = _uint(body, s, e) or timescale
                    elif el == _DURATION:
                        duration_ticks = _float(body, s, e)
        elif element == _CLUSTER:
            cluster = (data, end)
            break
        pos = end
    if tracks is None:
        return MatroskaFacts(doctype=doctype, has_video=False, has_audio=False)
    video = next((t for t in tracks if t.type == 1), None)
    has_audio = any(t.type == 2 for t in tracks)
    duration = None
    if duration_ticks is not None and duration_ticks > 0:
        duration = round(duration_ticks * timescale / 1e9, 3)
    if video is None:
        return MatroskaFacts(doctype, has_video=False, has_audio=has_audio, duration=duration)
    codec = _CODECS.get(video.codec_id, video.codec_id.lower() or None)
    pix_fmt = _pix_fmt(video, codec)
    if pix_fmt is None and codec == "vp9" and cluster is not None and hops <= _MAX_HOPS:
        frame = await _first_frame(src, cluster[0], cluster[1], video.number)
        pix_fmt = codecs.vp9_frame_pix_fmt(frame) if frame else None
    frame_rate = round(1e9 / video.default_duration, 3) if video.default_duration else None
    return MatroskaFacts(
        doctype=doctype,
        has_video=True,
        has_audio=has_audio,
        codec=codec,
        pix_fmt=pix_fmt,
        width=video.width or None,
        height=video.height or None,
        duration=duration,
        frame_rate=frame_rate,
    )
