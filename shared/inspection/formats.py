"""Format lists and what a blob's name or content type claims it is.

The verdict is always decided by content; the name and content type only (a) choose how large
the first read is and (b) decide whether content that is not recognised media is reported
(``skipped unsupported_format``: the user expected an asset) or merely counted (``ignored``).
"""

from __future__ import annotations

from typing import Final

from shared.inspection.model import Kind

__all__ = [
    "IMAGE_EXTENSIONS",
    "MP4_RULE_FORMATS",
    "SUPPORTED_IMAGE_FORMATS",
    "SUPPORTED_VIDEO_FORMATS",
    "UNSUPPORTED_IMAGE_FORMATS",
    "UNSUPPORTED_VIDEO_FORMATS",
    "VIDEO_EXTENSIONS",
    "claimed_kind",
]

#: Image formats that become assets (format ids as in ``Verdict.format``). All of them open with
#: the Pillow wheel; HEIC, AVIF, JPEG 2000, ICO, PSD and friends are recognised but unsupported.
SUPPORTED_IMAGE_FORMATS: Final = ("jpeg", "png", "webp", "tiff", "bmp", "gif")

#: Video containers that become assets. ``mp4`` and ``m4v`` must also pass the MP4 rules
#: (major brand ``mp42``, pixel format ``yuv420p``); the others are accepted once recognised.
SUPPORTED_VIDEO_FORMATS: Final = (
    "mp4",
    "m4v",
    "mov",
    "avi",
    "webm",
    "mkv",
    "flv",
    "ogg",
    "3gp",
    "asf",
)

#: Containers the MP4 rules apply to.
MP4_RULE_FORMATS: Final = ("mp4", "m4v")

#: Recognised by signature, reported as ``unsupported_format`` (kind image).
UNSUPPORTED_IMAGE_FORMATS: Final = (
    "heic",
    "avif",
    "jpeg2000",
    "jpegxl",
    "psd",
    "ico",
    "svg",
    "pdf",
)

#: Recognised by signature, reported as ``unsupported_format`` (kind video).
UNSUPPORTED_VIDEO_FORMATS: Final = ("mpegts", "mpeg", "realmedia")

IMAGE_EXTENSIONS: Final = frozenset(
    {
        "jpg",
        "jpeg",
        "jpe",
        "jfif",
        "png",
        "apng",
        "gif",
        "bmp",
        "dib",
        "tif",
        "tiff",
        "webp",
        "heic",
        "heif",
        "avif",
        "jp2",
        "j2k",
        "jpx",
        "jxl",
        "psd",
        "ico",
        "svg",
        "dng",
        "cr2",
        "cr3",
        "nef",
        "arw",
        "raw",
        "tga",
        "ppm",
        "pgm",
    }
)

VIDEO_EXTENSIONS: Final = frozenset(
    {
        "mp4",
        "m4v",
        "mov",
        "qt",
        "avi",
        "webm",
        "mkv",
        "flv",
        "f4v",
        "ogv",
        "3gp",
        "3g2",
        "asf",
        "wmv",
        "mpg",
        "mpeg",
        "m2v",
        "ts",
        "mts",
        "m2ts",
        "vob",
        "rm",
        "rmvb",
    }
)


def _extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    if "." not in base.strip("."):  # no dot, or a dot-file such as ".jpg"
        return ""
    return base.rsplit(".", 1)[-1].lower()


def claimed_kind(name: str, content_type: str | None = None) -> Kind:
    """What the blob says it is: ``image`` or ``video`` by extension, else by content type."""
    ext = _extension(name)
    if ext in IMAGE_EXTENSIONS:
        return Kind.IMAGE
    if ext in VIDEO_EXTENSIONS:
        return Kind.VIDEO
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime.startswith("image/"):
        return Kind.IMAGE
    if mime.startswith("video/"):
        return Kind.VIDEO
    return Kind.OTHER
