"""Video files as bytes, encoded with PyAV (FFmpeg) from generated frames.

:func:`video` is the general entry point; :func:`mp4`, :func:`mov`, :func:`webm` and friends
are shorthands with sensible defaults. Files are written to a temporary directory (the MP4
``faststart`` pass re-reads its output, which an in-memory file cannot do) and returned as bytes.
"""

from __future__ import annotations

import os
import random
import tempfile
from typing import Any, cast

import av
from PIL import Image

from mediagen.images import picture

__all__ = [
    "CONTAINERS",
    "ENCODERS",
    "asf",
    "avi",
    "flv",
    "m4a",
    "m4v",
    "mkv",
    "mov",
    "mp4",
    "mpegts",
    "ogv",
    "three_gp",
    "video",
    "webm",
]

#: Our container names → FFmpeg muxers.
CONTAINERS = {
    "mp4": "mp4",
    "m4v": "ipod",
    "mov": "mov",
    "3gp": "3gp",
    "webm": "webm",
    "mkv": "matroska",
    "avi": "avi",
    "flv": "flv",
    "ogv": "ogg",
    "asf": "asf",
    "mpegts": "mpegts",
}

#: Codec names (as ffprobe prints them) → encoders in the PyAV wheel.
ENCODERS = {
    "h264": "libx264",
    "hevc": "libx265",
    "vp8": "libvpx",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "mpeg4": "mpeg4",
    "flv1": "flv",
    "wmv2": "wmv2",
    "mjpeg": "mjpeg",
    "mpeg2video": "mpeg2video",
}

_SPEED_OPTIONS = {
    "libx264": {"preset": "ultrafast"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=none"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
    "libsvtav1": {"preset": "12"},
}


def _frames(width: int, height: int, count: int, seed: int, noise: float) -> list[Image.Image]:
    """A picture panning across a larger canvas; with noise, fresh grain every frame."""
    canvas = picture(width * 2, height * 2, seed=seed, noise=0.0)
    rng = random.Random(seed)
    frames = []
    for i in range(count):
        x = (i * 3) % width
        y = (i * 2) % height
        frame = canvas.crop((x, y, x + width, y + height))
        if noise > 0:
            grain = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
            frame = Image.blend(frame, grain, min(1.0, noise))
        frames.append(frame)
    return frames


def _add_audio(container: Any, seconds: float) -> tuple[Any, list[Any]]:
    stream = container.add_stream("aac", rate=48000, layout="mono")
    frames = []
    samples = 1024
    for i in range(max(1, int(seconds * 48000 / samples))):
        frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
        frame.planes[0].update(bytes(samples * 4))
        frame.sample_rate = 48000
        frame.pts = i * samples
        frames.append(frame)
    return stream, frames


def video(
    container: str = "mp4",
    *,
    codec: str = "h264",
    pix_fmt: str = "yuv420p",
    brand: str | None = None,
    faststart: bool = False,
    seconds: float = 0.4,
    fps: int = 25,
    size: tuple[int, int] = (64, 48),
    seed: int = 0,
    noise: float = 0.1,
    crf: int | None = None,
    audio: bool = False,
    codec_options: dict[str, str] | None = None,
) -> bytes:
    """Encode ``seconds`` of generated frames into ``container`` (see :data:`CONTAINERS`).

    ``brand`` sets the MP4 major brand (FFmpeg's default is ``isom``; ``m4v`` defaults to
    ``M4V ``); ``faststart`` moves ``moov`` in front of ``mdat``. ``crf`` (x264/x265/vpx) trades
    size for quality; ``crf=0`` with ``noise=1`` makes large files quickly.
    """
    muxer = CONTAINERS[container]
    if container == "m4v" and brand is not None:
        muxer = "mp4"
    encoder = ENCODERS.get(codec, codec)
    options: dict[str, str] = {"fflags": "+bitexact"}  # same bytes for the same seed
    if brand is not None:
        options["brand"] = brand
    if faststart:
        options["movflags"] = "+faststart"
    stream_options = dict(_SPEED_OPTIONS.get(encoder, {}))
    if crf is not None:
        if encoder in ("libx264", "libx265"):
            stream_options["crf"] = str(crf)
        elif encoder.startswith("libvpx"):
            stream_options.update({"crf": str(max(4, crf)), "b": "0"})
        else:  # mpeg4, wmv2, flv1, mjpeg, ...: bound the quantiser instead
            stream_options.update({"qmin": str(max(1, crf)), "qmax": str(max(1, crf) + 2)})
    stream_options.update(codec_options or {})
    width, height = size
    count = max(1, round(seconds * fps))
    with tempfile.TemporaryDirectory(prefix="mediagen-") as folder:
        path = os.path.join(folder, "out")
        out = cast(Any, av.open(path, mode="w", format=muxer, options=options))
        try:
            stream = out.add_stream(encoder, rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = pix_fmt
            stream.options = stream_options
            audio_stream, audio_frames = _add_audio(out, seconds) if audio else (None, [])
            for image in _frames(width, height, count, seed, noise):
                frame = cast(Any, av.VideoFrame).from_image(image)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            if audio_stream is not None:
                for audio_frame in audio_frames:
                    for packet in audio_stream.encode(audio_frame):
                        out.mux(packet)
                for packet in audio_stream.encode():
                    out.mux(packet)
        finally:
            out.close()
        with open(path, "rb") as file:
            return file.read()


def mp4(
    *,
    brand: str = "mp42",
    pix_fmt: str = "yuv420p",
    faststart: bool = True,
    codec: str = "h264",
    seconds: float = 0.4,
    size: tuple[int, int] = (64, 48),
    **kwargs: Any,
) -> bytes:
    """An MP4; by default one the product accepts (``mp42``, ``yuv420p``, faststart)."""
    return video(
        "mp4",
        brand=brand,
        pix_fmt=pix_fmt,
        faststart=faststart,
        codec=codec,
        seconds=seconds,
        size=size,
        **kwargs,
    )


def m4v(*, brand: str | None = None, **kwargs: Any) -> bytes:
    """An M4V as iTunes writes it (major brand ``M4V ``) unless ``brand`` is given."""
    return video("m4v", brand=brand, **kwargs)


def mov(**kwargs: Any) -> bytes:
    """A QuickTime movie (major brand ``qt  ``)."""
    return video("mov", **kwargs)


def three_gp(**kwargs: Any) -> bytes:
    return video("3gp", **kwargs)


def webm(*, codec: str = "vp9", **kwargs: Any) -> bytes:
    return video("webm", codec=codec, **kwargs)


def mkv(*, codec: str = "h264", **kwargs: Any) -> bytes:
    return video("mkv", codec=codec, **kwargs)


def avi(*, codec: str = "mpeg4", **kwargs: Any) -> bytes:
    return video("avi", codec=codec, **kwargs)


def flv(*, codec: str = "flv1", **kwargs: Any) -> bytes:
    return video("flv", codec=codec, **kwargs)


def ogv(*, codec: str = "vp8", **kwargs: Any) -> bytes:
    return video("ogv", codec=codec, **kwargs)


def asf(*, codec: str = "wmv2", **kwargs: Any) -> bytes:
    return video("asf", codec=codec, **kwargs)


def mpegts(*, codec: str = "h264", **kwargs: Any) -> bytes:
    """MPEG transport stream (recognised, not supported by the product)."""
    return video("mpegts", codec=codec, **kwargs)


def m4a(seconds: float = 0.5) -> bytes:
    """Audio-only MPEG-4 (major brand ``M4A ``): not media the product imports."""
    with tempfile.TemporaryDirectory(prefix="mediagen-") as folder:
        path = os.path.join(folder, "out")
        out = cast(Any, av.open(path, mode="w", format="ipod", options={"fflags": "+bitexact"}))
        try:
            stream, frames = _add_audio(out, seconds)
            for frame in frames:
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        finally:
            out.close()
        with open(path, "rb") as file:
            return file.read()
