"""Generate realistic media files as bytes (Pillow and PyAV), for tests, the demo and the benchmark.

No binaries are stored anywhere: every file is made on demand and deterministic for its seed.

Images (:mod:`mediagen.images`): :func:`jpeg` (EXIF orientation, EXIF behind padding, ICC
profile, thumbnail), :func:`png` (``eXIf`` behind a large text chunk), :func:`webp`,
:func:`tiff` (IFD at the end when compressed), :func:`bmp`, :func:`gif`, and unsupported
:func:`avif`, :func:`jpeg2000`, :func:`ico`.

Videos (:mod:`mediagen.video`): :func:`video` (any container/codec/pixel format, MP4 brand and
faststart), shorthands :func:`mp4`, :func:`m4v`, :func:`mov`, :func:`three_gp`, :func:`webm`,
:func:`mkv`, :func:`avi`, :func:`flv`, :func:`ogv`, :func:`asf`, and :func:`mpegts` / :func:`m4a`.

Other (:mod:`mediagen.other`): :func:`text`, :func:`json`, :func:`csv`, :func:`xml`,
:func:`svg`, :func:`pdf`, :func:`heic_like`, :func:`zip_archive`, :func:`wav`,
:func:`random_binary`. Damage (:mod:`mediagen.damage`): :func:`truncate`, :func:`garble`.

:func:`mixed_set` builds ``n`` realistic ``(name, bytes)`` assets for a seed.
"""

from __future__ import annotations

from mediagen.corpus import mixed_set
from mediagen.damage import garble, truncate
from mediagen.exif import exif
from mediagen.images import avif, bmp, gif, ico, jpeg, jpeg2000, picture, png, tiff, webp
from mediagen.other import (
    csv,
    heic_like,
    json,
    pdf,
    random_binary,
    svg,
    text,
    wav,
    xml,
    zip_archive,
)
from mediagen.video import (
    asf,
    avi,
    flv,
    m4a,
    m4v,
    mkv,
    mov,
    mp4,
    mpegts,
    ogv,
    three_gp,
    video,
    webm,
)

__all__ = [
    "asf",
    "avi",
    "avif",
    "bmp",
    "csv",
    "exif",
    "flv",
    "garble",
    "gif",
    "heic_like",
    "ico",
    "jpeg",
    "jpeg2000",
    "json",
    "m4a",
    "m4v",
    "mixed_set",
    "mkv",
    "mov",
    "mp4",
    "mpegts",
    "ogv",
    "pdf",
    "picture",
    "png",
    "random_binary",
    "svg",
    "text",
    "three_gp",
    "tiff",
    "truncate",
    "video",
    "wav",
    "webm",
    "webp",
    "xml",
    "zip_archive",
]
