"""PyAV over the lazy ranged reader, for videos the hand parsers cannot decide.

PyAV is synchronous, so it runs in a worker thread (``asyncio.to_thread``) over a
:class:`~shared.inspection.reader.SyncRangeFile` whose reads are scheduled back on the event loop:
only the bytes FFmpeg asks for are fetched (the metadata, then the first video packet), never the
whole file. The pixel format is what FFmpeg reports after opening the stream, or after decoding
the first frame when opening did not settle it, i.e. what ``ffprobe`` prints.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

import av

from shared.inspection.reader import CachingReader, SyncRangeFile

__all__ = ["ProbeResult", "probe"]

logger = logging.getLogger(__name__)

#: Bytes FFmpeg may read while probing stream parameters (its default is 5 MB).
PROBE_SIZE = 2 * 1024 * 1024


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    error: str = ""
    has_video: bool = False
    major_brand: str | None = None
    codec: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None


def _probe_sync(file: SyncRangeFile) -> ProbeResult:
    try:
        container = cast(
            Any,
            av.open(
                file,
                mode="r",
                options={"probesize": str(PROBE_SIZE), "analyzeduration": "1000000"},
            ),
        )
    except (av.FFmpegError, ValueError, OSError) as exc:
        return ProbeResult(ok=False, error=f"PyAV cannot open it: {type(exc).__name__}")
    try:
        metadata = dict(container.metadata)
        brand = metadata.get("major_brand")
        if not container.streams.video:
            return ProbeResult(ok=True, has_video=False, major_brand=brand)
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None:
            return ProbeResult(ok=False, error="PyAV has no decoder for its video stream")
        pix_fmt = cast("str | None", ctx.pix_fmt)
        if not pix_fmt:
            for frame in container.decode(stream):
                pix_fmt = cast(str, frame.format.name)
                break
        codec = cast("str | None", getattr(ctx.codec, "canonical_name", None) or ctx.name)
        return ProbeResult(
            ok=pix_fmt is not None,
            error="" if pix_fmt else "no video frame decoded",
            has_video=True,
            major_brand=brand,
            codec=codec,
            pix_fmt=pix_fmt,
            width=int(ctx.width) or None,
            height=int(ctx.height) or None,
        )
    except (av.FFmpegError, ValueError, OSError) as exc:
        return ProbeResult(ok=False, error=f"PyAV cannot decode it: {type(exc).__name__}")
    finally:
        container.close()


async def probe(src: CachingReader) -> ProbeResult:
    """Open the blob with PyAV in a worker thread, reading lazily through ``src``."""
    loop = asyncio.get_running_loop()
    file = SyncRangeFile(src, loop)
    result = await asyncio.to_thread(_probe_sync, file)
    logger.debug("PyAV fallback: ok=%s pix_fmt=%s", result.ok, result.pix_fmt)
    return result
