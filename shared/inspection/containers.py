"""AVI, FLV, Ogg and ASF: accepted once recognised; facts read from their headers where cheap.

* AVI — ``hdrl``: ``avih`` (frame time, frame count, size) and the first ``vids`` stream's
  ``strf`` FourCC. A RIFF size past the end of the file is ``corrupt``.
* FLV — the header flags (video present?) and the ``onMetaData`` script tag (AMF0).
* Ogg — the beginning-of-stream pages: Theora (pixel format in its header), VP8, Dirac, or
  audio codecs only.
* ASF/WMV — stream properties (video or audio, FourCC, size) and file properties (duration).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from shared.inspection.errors import Corrupt
from shared.inspection.reader import CachingReader
from shared.inspection.sniff import ASF_AUDIO, ASF_VIDEO

__all__ = ["ContainerFacts", "inspect_asf", "inspect_avi", "inspect_flv", "inspect_ogg"]

_HOP = 8 * 1024

_FOURCC_CODECS = {
    "H264": "h264",
    "X264": "h264",
    "AVC1": "h264",
    "HEVC": "hevc",
    "H265": "hevc",
    "HVC1": "hevc",
    "XVID": "mpeg4",
    "DIVX": "mpeg4",
    "DX50": "mpeg4",
    "FMP4": "mpeg4",
    "MP4V": "mpeg4",
    "MJPG": "mjpeg",
    "WMV1": "wmv1",
    "WMV2": "wmv2",
    "WMV3": "wmv3",
    "WVC1": "vc1",
    "MP42": "msmpeg4v2",
    "MP43": "msmpeg4v3",
    "DIV3": "msmpeg4v3",
    "VP80": "vp8",
    "VP90": "vp9",
    "AV01": "av1",
    "FFV1": "ffv1",
}

_FLV_CODECS = {2: "flv1", 3: "flashsv", 4: "vp6f", 5: "vp6a", 6: "flashsv2", 7: "h264", 12: "hevc"}


@dataclass(frozen=True)
class ContainerFacts:
    has_video: bool
    has_audio: bool = False
    codec: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    frame_rate: float | None = None


def _fourcc_codec(raw: bytes) -> str | None:
    text = raw.decode("latin-1").strip("\x00 ")
    if not text:
        return None
    return _FOURCC_CODECS.get(text.upper(), text.lower())


async def inspect_avi(src: CachingReader) -> ContainerFacts:
    size = src.size
    head = await src.read(0, 12, readahead=_HOP)
    (riff_size,) = struct.unpack_from("<I", head, 4)
    if 8 + riff_size > size:
        raise Corrupt(f"AVI RIFF size needs {8 + riff_size} bytes, the file has {size} (truncated)")
    pos = 12
    hdrl: bytes | None = None
    while pos + 12 <= min(size, 8 + riff_size):
        chunk = await src.read(pos, 12, readahead=_HOP)
        kind, length = struct.unpack_from("<4sI", chunk)
        if kind == b"LIST" and chunk[8:12] == b"hdrl":
            hdrl = await src.read(pos + 12, min(length - 4, 1024 * 1024))
            break
        pos += 8 + length + (length & 1)
    if hdrl is None:
        raise Corrupt("AVI has no header list")
    width = height = 0
    duration = frame_rate = None
    codec: str | None = None
    has_video = has_audio = False
    for kind, data in _riff_chunks(hdrl):
        if kind == b"avih" and len(data) >= 40:
            usec, _rate, _pad, _flags, frames = struct.unpack_from("<IIIII", data, 0)
            width, height = struct.unpack_from("<II", data, 32)
            if usec:
                frame_rate = round(1e6 / usec, 3)
                duration = round(frames * usec / 1e6, 3) if frames else None
        elif kind == b"LIST" and data[:4] == b"strl":
            stream_type = b""
            for sub, sub_data in _riff_chunks(data[4:]):
                if sub == b"strh" and len(sub_data) >= 8:
                    stream_type = sub_data[:4]
                    if stream_type == b"vids" and len(sub_data) >= 32:
                        scale, rate = struct.unpack_from("<II", sub_data, 20)
                        if scale and rate:
                            frame_rate = round(rate / scale, 3)
                elif sub == b"strf" and stream_type == b"vids" and not has_video:
                    has_video = True
                    if len(sub_data) >= 20:
                        codec = _fourcc_codec(sub_data[16:20])
            has_audio = has_audio or stream_type == b"auds"
    return ContainerFacts(
        has_video=has_video,
        has_audio=has_audio,
        codec=codec,
        width=width or None,
        height=height or None,
        duration=duration,
        frame_rate=frame_rate,
    )


def _riff_chunks(buf: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    pos = 0
    while pos + 8 <= len(buf):
        kind, length = struct.unpack_from("<4sI", buf, pos)
        out.append((kind, buf[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return out


def _amf_value(buf: bytes, pos: int) -> tuple[object, int]:
    marker = buf[pos]
    pos += 1
    if marker == 0:
        return struct.unpack_from(">d", buf, pos)[0], pos + 8
    if marker == 1:
        return buf[pos] != 0, pos + 1
    if marker == 2:
        (n,) = struct.unpack_from(">H", buf, pos)
        return buf[pos + 2 : pos + 2 + n].decode("utf-8", "replace"), pos + 2 + n
    if marker in (3, 8):
        if marker == 8:
            pos += 4
        obj: dict[str, object] = {}
        while pos + 3 <= len(buf):
            (n,) = struct.unpack_from(">H", buf, pos)
            if n == 0 and buf[pos + 2] == 9:
                return obj, pos + 3
            key = buf[pos + 2 : pos + 2 + n].decode("utf-8", "replace")
            value, pos = _amf_value(buf, pos + 2 + n)
            obj[key] = value
        return obj, pos
    if marker in (5, 6):
        return None, pos
    if marker == 10:
        (n,) = struct.unpack_from(">I", buf, pos)
        pos += 4
        items = []
        for _ in range(n):
            value, pos = _amf_value(buf, pos)
            items.append(value)
        return items, pos
    if marker == 11:
        return None, pos + 10
    raise ValueError(f"AMF0 marker {marker}")


def _number(meta: dict[str, object], key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


async def inspect_flv(src: CachingReader) -> ContainerFacts:
    head = await src.read(0, 9, readahead=_HOP)
    if len(head) < 9:
        raise Corrupt("FLV header cut short")
    flags = head[4]
    (offset,) = struct.unpack_from(">I", head, 5)
    has_video, has_audio = bool(flags & 0x01), bool(flags & 0x04)
    meta: dict[str, object] = {}
    tag = await src.read(offset + 4, 11, readahead=_HOP)
    if len(tag) == 11 and tag[0] == 18:
        length = int.from_bytes(tag[1:4], "big")
        body = await src.read(offset + 15, min(length, 64 * 1024))
        try:
            name, pos = _amf_value(body, 0)
            if name == "onMetaData":
                value, _ = _amf_value(body, pos)
                if isinstance(value, dict):
                    meta = value
        except (ValueError, IndexError, struct.error):
            meta = {}
    codec_id = _number(meta, "videocodecid")
    width, height = _number(meta, "width"), _number(meta, "height")
    duration, rate = _number(meta, "duration"), _number(meta, "framerate")
    return ContainerFacts(
        has_video=has_video,
        has_audio=has_audio,
        codec=_FLV_CODECS.get(int(codec_id)) if codec_id else None,
        width=int(width) if width else None,
        height=int(height) if height else None,
        duration=round(duration, 3) if duration else None,
        frame_rate=round(rate, 3) if rate else None,
    )


_THEORA_PIX = {0: "yuv420p", 2: "yuv422p", 3: "yuv444p"}
_OGG_AUDIO = (b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   ", b"\x80kate")


async def inspect_ogg(src: CachingReader) -> ContainerFacts:
    """Beginning-of-stream pages come first; read their first packets."""
    buf = await src.read(0, min(src.size, 8 * 1024))
    pos = 0
    video: ContainerFacts | None = None
    has_audio = False
    while pos + 27 <= len(buf) and buf[pos : pos + 4] == b"OggS":
        header_type, n_segments = buf[pos + 5], buf[pos + 26]
        if not header_type & 0x02:  # past the beginning-of-stream pages
            break
        table = buf[pos + 27 : pos + 27 + n_segments]
        body = pos + 27 + n_segments
        packet = buf[body : body + sum(table)]
        if packet.startswith(b"\x80theora") and len(packet) >= 42 and video is None:
            width, height = (
                int.from_bytes(packet[14:17], "big"),
                int.from_bytes(packet[17:20], "big"),
            )
            num, den = struct.unpack_from(">II", packet, 22)
            pf = (packet[41] >> 3) & 0x03
            video = ContainerFacts(
                has_video=True,
                codec="theora",
                pix_fmt=_THEORA_PIX.get(pf),
                width=width,
                height=height,
                frame_rate=round(num / den, 3) if den else None,
            )
        elif packet.startswith(b"OVP80") and len(packet) >= 26 and video is None:
            width, height = struct.unpack_from(">HH", packet, 8)
            num, den = struct.unpack_from(">II", packet, 18)
            video = ContainerFacts(
                has_video=True,
                codec="vp8",
                pix_fmt="yuv420p",
                width=width,
                height=height,
                frame_rate=round(num / den, 3) if den else None,
            )
        elif packet.startswith(b"BBCD\x00") and video is None:
            video = ContainerFacts(has_video=True, codec="dirac")
        elif packet.startswith(_OGG_AUDIO):
            has_audio = True
        pos = body + sum(table)
    if pos == 0:
        raise Corrupt("Ogg page header is broken")
    if video is None:
        return ContainerFacts(has_video=False, has_audio=has_audio)
    return ContainerFacts(
        has_video=True,
        has_audio=has_audio,
        codec=video.codec,
        pix_fmt=video.pix_fmt,
        width=video.width,
        height=video.height,
        frame_rate=video.frame_rate,
    )


_ASF_STREAM_PROPERTIES = uuid.UUID("B7DC0791-A9B7-11CF-8EE6-00C00C205365").bytes_le
_ASF_FILE_PROPERTIES = uuid.UUID("8CABDCA1-A947-11CF-8EE4-00C00C205365").bytes_le


async def inspect_asf(src: CachingReader) -> ContainerFacts:
    head = await src.read(0, 30, readahead=_HOP)
    if len(head) < 30:
        raise Corrupt("ASF header cut short")
    (header_size,) = struct.unpack_from("<Q", head, 16)
    if header_size < 30 or header_size > src.size:
        raise Corrupt("ASF header object size is bad")
    buf = await src.read(0, min(header_size, 1024 * 1024))
    pos = 30
    has_video = has_audio = False
    codec: str | None = None
    width = height = 0
    duration: float | None = None
    while pos + 24 <= len(buf):
        guid = buf[pos : pos + 16]
        (length,) = struct.unpack_from("<Q", buf, pos + 16)
        if length < 24:
            raise Corrupt("ASF object size is bad")
        data = buf[pos + 24 : pos + length]
        if guid == _ASF_STREAM_PROPERTIES and len(data) >= 54:
            stream_type = data[:16]
            if stream_type == ASF_VIDEO and not has_video:
                has_video = True
                specific = data[54:]
                if len(specific) >= 11 + 20:
                    width, height = struct.unpack_from("<II", specific, 0)
                    codec = _fourcc_codec(specific[11 + 16 : 11 + 20])
            elif stream_type == ASF_AUDIO:
                has_audio = True
        elif guid == _ASF_FILE_PROPERTIES and len(data) >= 80:
            (play, _send, preroll) = struct.unpack_from("<QQQ", data, 40)
            seconds = play / 1e7 - preroll / 1e3
            duration = round(seconds, 3) if seconds > 0 else None
        pos += length
    return ContainerFacts(
        has_video=has_video,
        has_audio=has_audio,
        codec=codec,
        width=width or None,
        height=height or None,
        duration=duration,
    )
