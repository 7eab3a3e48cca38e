"""MP4 / MOV / 3GP / M4V: the ``ftyp`` brand and the video track from ``moov``, by box headers.

Top-level boxes are walked by their headers (16 bytes each, jumping over ``mdat``) until
``moov``, which is read whole, wherever it sits. Near the end of the file the walk reads the
whole remainder at once, so a ``moov`` at the end usually costs one request after the head.

From ``moov``: ``mvhd`` (duration), the first track whose ``hdlr`` is ``vide``: ``mdhd`` and
``stts`` (frame rate), ``stsd`` (codec, coded size, ``avcC``/``hvcC``/``av1C``/``vpcC`` and
``colr``), and every track's ``stsz``/``stsc``/``stco``/``co64`` to check that all sample data
lies inside the file (a cut-off upload is ``corrupt``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from shared.inspection import codecs
from shared.inspection.errors import Corrupt
from shared.inspection.reader import CachingReader

__all__ = ["IsoFacts", "inspect_isobmff", "iter_boxes"]

#: Near the end of the file, read the whole rest in one request if it is at most this large.
TAIL_READ = 64 * 1024
#: Refuse ``moov`` boxes larger than this (a broken size field, not metadata; a ten-hour
#: recording's sample tables are a few tens of MiB).
MAX_MOOV = 64 * 1024 * 1024

_CODEC_NAMES = {
    b"avc1": "h264",
    b"avc2": "h264",
    b"avc3": "h264",
    b"avc4": "h264",
    b"dvav": "h264",
    b"dva1": "h264",
    b"hvc1": "hevc",
    b"hev1": "hevc",
    b"dvh1": "hevc",
    b"dvhe": "hevc",
    b"av01": "av1",
    b"vp09": "vp9",
    b"vp08": "vp8",
    b"mp4v": "mpeg4",
    b"s263": "h263",
    b"h263": "h263",
    b"jpeg": "mjpeg",
    b"mjpa": "mjpeg",
    b"mjpb": "mjpegb",
    b"apch": "prores",
    b"apcn": "prores",
    b"apcs": "prores",
    b"apco": "prores",
    b"ap4h": "prores",
    b"ap4x": "prores",
    b"mjp2": "jpeg2000",
    b"png ": "png",
    b"raw ": "rawvideo",
}


@dataclass(frozen=True)
class IsoFacts:
    major_brand: str | None
    has_video: bool
    has_audio: bool
    codec: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    frame_rate: float | None = None
    #: Why ``pix_fmt`` is unknown, when it is.
    pix_fmt_note: str = ""


def iter_boxes(
    buf: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, payload_end)`` for the boxes in ``buf[start:end]``."""
    end = len(buf) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise Corrupt(f"box {kind!r} header cut short")
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Corrupt(f"box {kind!r} has a bad size")
        yield kind, pos + header, pos + size
        pos += size


def _child(buf: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, s, e in iter_boxes(buf, start, end):
        if k == kind:
            return s, e
    return None


def _path(buf: bytes, start: int, end: int, *kinds: bytes) -> tuple[int, int] | None:
    span: tuple[int, int] | None = (start, end)
    for kind in kinds:
        if span is None:
            return None
        span = _child(buf, span[0], span[1], kind)
    return span


async def _find_moov(src: CachingReader) -> tuple[bytes | None, bytes]:
    """Walk top-level boxes; return (ftyp payload or None, moov box bytes)."""
    size = src.size
    pos = 0
    ftyp: bytes | None = None
    while pos < size:
        remaining = size - pos
        readahead = remaining if remaining <= TAIL_READ else 0
        head = await src.read(pos, 16, readahead=readahead)
        if len(head) < 8:
            raise Corrupt(f"box header cut short at byte {pos}")
        box_size, kind = struct.unpack_from(">I4s", head, 0)
        header = 8
        if box_size == 1:
            if len(head) < 16:
                raise Corrupt(f"box header cut short at byte {pos}")
            (box_size,) = struct.unpack_from(">Q", head, 8)
            header = 16
        elif box_size == 0:
            box_size = remaining
        if box_size < header:
            raise Corrupt(f"box {kind!r} at byte {pos} has a bad size")
        if not all(0x20 <= b < 0x7F or b == 0xA9 for b in kind):
            raise Corrupt(f"no box header at byte {pos}")
        if box_size > remaining:
            raise Corrupt(
                f"box {kind.decode('latin-1')} at byte {pos} needs {box_size} bytes, "
                f"only {remaining} left (truncated file)"
            )
        if kind == b"ftyp" and ftyp is None:
            ftyp = (await src.read(pos, min(box_size, 4096)))[header:]
        elif kind == b"moov":
            if box_size > MAX_MOOV:
                raise Corrupt(f"moov box of {box_size} bytes")
            return ftyp, await src.read(pos, box_size)
        pos += box_size
    raise Corrupt("no moov box (metadata missing or file truncated)")


@dataclass
class _Track:
    handler: bytes = b""
    timescale: int = 0
    media_duration: int = 0
    sample_count: int = 0
    stts_duration: int = 0
    entry: bytes = b""
    stbl: tuple[int, int] | None = None


def _fullbox_u32(buf: bytes, start: int, index: int) -> int:
    return int(struct.unpack_from(">I", buf, start + 4 + 4 * index)[0])


def _parse_track(moov: bytes, start: int, end: int) -> _Track:
    track = _Track()
    mdia = _child(moov, start, end, b"mdia")
    if mdia is None:
        return track
    hdlr = _child(moov, *mdia, b"hdlr")
    if hdlr is not None and hdlr[1] - hdlr[0] >= 12:
        track.handler = moov[hdlr[0] + 8 : hdlr[0] + 12]
    mdhd = _child(moov, *mdia, b"mdhd")
    if mdhd is not None:
        version = moov[mdhd[0]]
        if version == 1:
            track.timescale, track.media_duration = struct.unpack_from(">IQ", moov, mdhd[0] + 20)
        else:
            track.timescale, track.media_duration = struct.unpack_from(">II", moov, mdhd[0] + 12)
    track.stbl = _path(moov, mdia[0], mdia[1], b"minf", b"stbl")
    if track.stbl is None:
        return track
    stsd = _child(moov, *track.stbl, b"stsd")
    if stsd is not None and stsd[1] - stsd[0] >= 16 and _fullbox_u32(moov, stsd[0], 0) > 0:
        (entry_size,) = struct.unpack_from(">I", moov, stsd[0] + 8)
        track.entry = moov[stsd[0] + 8 : min(stsd[1], stsd[0] + 8 + entry_size)]
    stts = _child(moov, *track.stbl, b"stts")
    if stts is not None:
        n = _fullbox_u32(moov, stts[0], 0)
        if stts[0] + 8 + 8 * n > stts[1]:
            raise Corrupt("stts table runs past its box")
        pairs = struct.unpack_from(f">{2 * n}I", moov, stts[0] + 8)
        track.sample_count = sum(pairs[0::2])
        track.stts_duration = sum(c * d for c, d in zip(pairs[0::2], pairs[1::2], strict=True))
    return track


def _data_end(moov: bytes, stbl: tuple[int, int]) -> int | None:
    """One past the last byte of sample data of a track, from its sample tables."""
    stsz = _child(moov, *stbl, b"stsz")
    stsc = _child(moov, *stbl, b"stsc")
    chunk_box = _child(moov, *stbl, b"stco")
    wide = False
    if chunk_box is None:
        chunk_box = _child(moov, *stbl, b"co64")
        wide = True
    if stsz is None or stsc is None or chunk_box is None:
        return None
    n_chunks = _fullbox_u32(moov, chunk_box[0], 0)
    if n_chunks == 0:
        return None
    need = chunk_box[0] + 8 + n_chunks * (8 if wide else 4)
    if need > chunk_box[1]:
        raise Corrupt("chunk offset table runs past its box")
    offsets = struct.unpack_from(f">{n_chunks}{'Q' if wide else 'I'}", moov, chunk_box[0] + 8)
    last = max(range(n_chunks), key=offsets.__getitem__)
    # Which samples live in chunk `last` (stsc runs: first_chunk, samples_per_chunk, desc).
    n_runs = _fullbox_u32(moov, stsc[0], 0)
    if n_runs == 0 or stsc[0] + 8 + 12 * n_runs > stsc[1]:
        raise Corrupt("sample-to-chunk table is bad")
    runs = struct.unpack_from(f">{3 * n_runs}I", moov, stsc[0] + 8)
    first_sample, per_chunk = 0, 0
    for i in range(n_runs):
        run_first, run_per = runs[3 * i] - 1, runs[3 * i + 1]
        run_next = runs[3 * (i + 1)] - 1 if i + 1 < n_runs else n_chunks
        if run_first <= last < run_next:
            first_sample += (last - run_first) * run_per
            per_chunk = run_per
            break
        first_sample += max(0, run_next - run_first) * run_per
    uniform, n_samples = struct.unpack_from(">II", moov, stsz[0] + 4)
    if first_sample + per_chunk > n_samples:
        raise Corrupt("sample tables disagree")
    if uniform:
        chunk_bytes = uniform * per_chunk
    else:
        if stsz[0] + 12 + 4 * n_samples > stsz[1]:
            raise Corrupt("sample size table runs past its box")
        sizes = struct.unpack_from(f">{per_chunk}I", moov, stsz[0] + 12 + 4 * first_sample)
        chunk_bytes = int(sum(sizes))
    return int(offsets[last]) + int(chunk_bytes)


def _video_entry(entry: bytes) -> tuple[str | None, str | None, int, int, str]:
    """Codec, pixel format, coded width and height, and a note when pix_fmt is unknown."""
    kind = entry[4:8]
    codec = _CODEC_NAMES.get(kind, kind.decode("latin-1").strip() or None)
    if len(entry) < 86:
        raise Corrupt("video sample entry cut short")
    width, height = struct.unpack_from(">HH", entry, 32)
    configs: dict[bytes, bytes] = {}
    for k, s, e in iter_boxes(entry, 86, len(entry)):
        configs.setdefault(k, entry[s:e])
    full_range: bool | None = None
    matrix: int | None = None
    colr = configs.get(b"colr", b"")
    if colr[:4] in (b"nclx", b"nclc") and len(colr) >= 10:
        (matrix,) = struct.unpack_from(">H", colr, 8)
        if colr[:4] == b"nclx" and len(colr) >= 11:
            full_range = bool(colr[10] & 0x80)
    pix_fmt: str | None = None
    note = ""
    try:
        if codec == "h264" and b"avcC" in configs:
            sps = codecs.avcc_first_sps(configs[b"avcC"])
            if sps is not None:
                avc = codecs.parse_avc_sps(sps)
                pix_fmt = codecs.h264_pix_fmt(
                    avc, container_full_range=full_range, container_matrix=matrix
                )
        elif codec == "hevc" and b"hvcC" in configs:
            sps = codecs.hvcc_first_sps(configs[b"hvcC"])
            if sps is not None:
                pix_fmt = codecs.hevc_pix_fmt(
                    codecs.parse_hevc_sps(sps), container_full_range=full_range
                )
        elif codec == "av1" and b"av1C" in configs:
            pix_fmt = codecs.av1_pix_fmt(configs[b"av1C"])
        elif codec == "vp9" and b"vpcC" in configs:
            pix_fmt = codecs.vpcc_pix_fmt(configs[b"vpcC"])
        elif codec == "vp8":
            pix_fmt = "yuv420p"
    except ValueError as exc:
        note = f"{codec} parameter set does not parse: {exc}"
    if pix_fmt is None and not note:
        note = f"pixel format of {codec} not readable from the sample entry"
    return codec, pix_fmt, width, height, note


async def inspect_isobmff(src: CachingReader) -> IsoFacts:
    """Brand, tracks and video facts of an ISO base media file; raises Corrupt."""
    ftyp, moov = await _find_moov(src)
    brand = ftyp[:4].decode("latin-1") if ftyp is not None and len(ftyp) >= 4 else None
    mvhd = _child(moov, 8, len(moov), b"mvhd")
    duration: float | None = None
    if mvhd is not None:
        if moov[mvhd[0]] == 1:
            timescale, length = struct.unpack_from(">IQ", moov, mvhd[0] + 20)
        else:
            timescale, length = struct.unpack_from(">II", moov, mvhd[0] + 12)
        if timescale and length not in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
            duration = length / timescale
    tracks = [
        _parse_track(moov, s, e) for k, s, e in iter_boxes(moov, 8, len(moov)) if k == b"trak"
    ]
    fragmented = _child(moov, 8, len(moov), b"mvex") is not None
    if not fragmented:
        for track in tracks:
            if track.stbl is None:
                continue
            end = _data_end(moov, track.stbl)
            if end is not None and end > src.size:
                raise Corrupt(
                    f"sample data runs to byte {end} but the file has {src.size} (truncated)"
                )
    video = next((t for t in tracks if t.handler == b"vide" and t.entry), None)
    has_audio = any(t.handler == b"soun" for t in tracks)
    if video is None:
        return IsoFacts(major_brand=brand, has_video=False, has_audio=has_audio, duration=duration)
    codec, pix_fmt, width, height, note = _video_entry(video.entry)
    frame_rate: float | None = None
    if video.sample_count and video.stts_duration and video.timescale:
        frame_rate = round(video.sample_count * video.timescale / video.stts_duration, 3)
    if duration is None and video.timescale and video.media_duration:
        duration = video.media_duration / video.timescale
    return IsoFacts(
        major_brand=brand,
        has_video=True,
        has_audio=has_audio,
        codec=codec,
        pix_fmt=pix_fmt,
        width=width or None,
        height=height or None,
        duration=round(duration, 3) if duration is not None else None,
        frame_rate=frame_rate,
        pix_fmt_note=note,
    )
