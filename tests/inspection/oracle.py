"""Ground truth, computed independently of the engine: decode the WHOLE file with Pillow or PyAV
and apply the product rules to what the decoders report.

* Identity comes from what the generator made (``Fixture.made_as``) and is cross-checked with
  the decoder (Pillow's ``format``, PyAV's demuxer name).
* An image is corrupt when Pillow cannot open and fully load it; a video when PyAV cannot open
  it or decodes fewer frames than were encoded.
* Orientation is ``Image.getexif().get(0x0112)``; major brand is PyAV's ``major_brand``
  metadata; pixel format is the first decoded frame's format (what ``ffprobe`` prints).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import av
from PIL import Image

from tests.inspection.corpus import Fixture

IMAGE_EXT = {
    "jpg",
    "jpeg",
    "png",
    "gif",
    "bmp",
    "tif",
    "tiff",
    "webp",
    "heic",
    "avif",
    "jp2",
    "ico",
    "svg",
}
VIDEO_EXT = {"mp4", "m4v", "mov", "avi", "webm", "mkv", "flv", "ogv", "3gp", "wmv", "asf", "ts"}

PILLOW_SUPPORTED = {
    "JPEG": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tiff",
    "BMP": "bmp",
    "GIF": "gif",
}
PILLOW_UNSUPPORTED = {"AVIF": "avif", "JPEG2000": "jpeg2000", "ICO": "ico"}
#: What the generator made → the demuxer PyAV must report for it.
DEMUXERS = {
    "mp4": "mp4",
    "m4v": "mp4",
    "mov": "mp4",
    "3gp": "mp4",
    "webm": "webm",
    "mkv": "matroska",
    "avi": "avi",
    "flv": "flv",
    "ogv": "ogg",
    "asf": "asf",
    "mpegts": "mpegts",
}
MADE_FORMAT = {"ogv": "ogg"}
IMAGE_MADE = set(PILLOW_SUPPORTED.values()) | set(PILLOW_UNSUPPORTED.values())
UNSUPPORTED_DOCS = {"pdf", "svg", "heic"}
AUDIO_MADE = {"m4a", "wav"}


@dataclass(frozen=True)
class Truth:
    kind: str
    outcome: str
    reason: str | None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    major_brand: str | None = None
    codec: str | None = None
    pix_fmt: str | None = None
    duration: float | None = None
    frame_rate: float | None = None
    frames_decoded: int | None = None


def claim(name: str, content_type: str | None) -> str | None:
    base = name.rsplit("/", 1)[-1]
    ext = base.rpartition(".")[2].lower() if "." in base else ""
    if ext in IMAGE_EXT or (content_type or "").startswith("image/"):
        return "image"
    if ext in VIDEO_EXT or (content_type or "").startswith("video/"):
        return "video"
    return None


def _not_media(fx: Fixture, fmt: str | None = None) -> Truth:
    claimed = claim(fx.name, fx.content_type)
    if claimed is None:
        return Truth("other", "ignored", None, fmt)
    return Truth(claimed, "skipped", "unsupported_format", fmt)


def truth(fx: Fixture) -> Truth:
    if not fx.data:
        claimed = claim(fx.name, fx.content_type)
        if claimed is None:
            return Truth("other", "ignored", None)
        return Truth(claimed, "skipped", "empty")
    if fx.made_as in IMAGE_MADE:
        return _image_truth(fx)
    if fx.made_as in DEMUXERS:
        return _video_truth(fx)
    if fx.made_as in UNSUPPORTED_DOCS:
        _check_document(fx)
        return Truth("image", "skipped", "unsupported_format", fx.made_as)
    if fx.made_as in AUDIO_MADE:
        with av.open(io.BytesIO(fx.data)) as container:
            assert not container.streams.video and container.streams.audio
        return _not_media(fx, fx.made_as)
    # text, archives, random bytes: neither decoder may take them for an image or a video
    _assert_not_decodable(fx.data)
    return _not_media(fx, fx.made_as if fx.made_as in ("text", "zip") else None)


def _check_document(fx: Fixture) -> None:
    if fx.made_as == "pdf":
        assert fx.data.startswith(b"%PDF-")
    elif fx.made_as == "svg":
        assert b"<svg" in fx.data[:512]
    elif fx.made_as == "heic":
        assert fx.data[4:12] == b"ftypheic"


def _assert_not_decodable(data: bytes) -> None:
    decoded = False
    with contextlib.suppress(Exception):  # any refusal is what we expect
        Image.open(io.BytesIO(data)).load()
        decoded = True
    assert not decoded, "Pillow decodes a fixture meant to be non-media"


def _image_truth(fx: Fixture) -> Truth:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(fx.data))
            # Before load(): Pillow 13 applies a TIFF's orientation while loading and then
            # forgets the tag (and reports the rotated size already at open).
            orientation = image.getexif().get(0x0112)
            size, pillow_format = image.size, image.format or ""
            image.load()
            if pillow_format == "TIFF" and orientation in (5, 6, 7, 8):
                size = (size[1], size[0])  # the stored pixel grid, as the file declares it
    except Exception:  # Pillow's refusals come in many types; all mean corrupt
        return Truth("image", "skipped", "corrupt", fx.made_as)
    fmt = PILLOW_SUPPORTED.get(pillow_format) or PILLOW_UNSUPPORTED.get(pillow_format)
    assert fmt == fx.made_as, f"Pillow sees {pillow_format}, the generator made {fx.made_as}"
    if fmt in PILLOW_UNSUPPORTED.values():
        return Truth("image", "skipped", "unsupported_format", fmt)
    meta = dict(format=fmt, width=size[0], height=size[1], orientation=orientation)
    if orientation is not None and orientation != 1:
        return Truth("image", "skipped", "exif_orientation", **meta)  # type: ignore[arg-type]
    return Truth("image", "accepted", None, **meta)  # type: ignore[arg-type]


def _iso_format(brand: str | None) -> str:
    if brand == "qt  ":
        return "mov"
    if brand and brand.startswith(("3gp", "3g2")):
        return "3gp"
    if brand and brand.startswith("M4V"):
        return "m4v"
    return "mp4"


def _video_truth(fx: Fixture) -> Truth:
    made = MADE_FORMAT.get(fx.made_as, fx.made_as)
    try:
        with av.open(io.BytesIO(fx.data)) as opened:
            container = cast(Any, opened)
            demuxer = container.format.name
            assert DEMUXERS[fx.made_as] in demuxer.split(","), demuxer
            brand = container.metadata.get("major_brand")
            if not container.streams.video:
                return _not_media(fx, made)
            stream = container.streams.video[0]
            pix_fmt = None
            decoded = 0
            for frame in container.decode(stream):
                pix_fmt = pix_fmt or frame.format.name
                decoded += 1
            codec = stream.codec_context.codec.canonical_name
            rate = stream.average_rate
            duration = container.duration / 1_000_000 if container.duration else None
            width, height = stream.codec_context.width, stream.codec_context.height
    except (av.FFmpegError, StopIteration):
        return Truth("video", "skipped", "corrupt", made)
    if fx.frames is not None and decoded < fx.frames:
        return Truth("video", "skipped", "corrupt", made, frames_decoded=decoded)
    if fx.made_as == "mpegts":
        return Truth("video", "skipped", "unsupported_format", "mpegts")
    fmt = _iso_format(brand) if DEMUXERS[fx.made_as] == "mp4" else made
    meta: dict[str, Any] = dict(
        format=fmt,
        width=width,
        height=height,
        major_brand=brand,
        codec=codec,
        pix_fmt=pix_fmt,
        duration=duration,
        frame_rate=float(Fraction(rate)) if rate else None,
        frames_decoded=decoded,
    )
    if fmt in ("mp4", "m4v"):
        if brand != "mp42":
            return Truth("video", "skipped", "mp4_major_brand", **meta)
        if pix_fmt != "yuv420p":
            return Truth("video", "skipped", "video_pixel_format", **meta)
    return Truth("video", "accepted", None, **meta)
