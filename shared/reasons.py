"""The one registry of skip reasons: every code a skipped asset can carry, with the title a user
sees in the skip report and the fix they can apply before re-syncing.

Codes are stable wire values (stored in the ``Assets`` table, filtered on by
``GET .../assets?reason=``); titles and fixes are presentation and may be reworded.

=====================  =====================================================================
code                   when
=====================  =====================================================================
``exif_orientation``   an image carries an EXIF orientation other than 1 (``orientation=6``)
``mp4_major_brand``    an MP4/M4V whose ``ftyp`` major brand is not ``mp42`` (``major_brand=isom``)
``video_pixel_format`` an MP4/M4V whose video stream is not ``yuv420p`` (``pix_fmt=yuv444p``)
``corrupt``            the content has a recognised signature but does not parse
``empty``              a zero-byte blob named or typed like an image or video
``unsupported_format`` a recognised but unsupported media type (PDF, HEIC, AVIF, MPEG-TS, ...)
                       or content that is not media in a blob named or typed like media
``quota_exceeded``     the organisation's monthly data-row quota ran out during the sync
``read_failed``        the blob could not be read after retries
=====================  =====================================================================

``quota_exceeded`` and ``read_failed`` say nothing about the file itself: a later sync retries
such blobs even when their etag has not changed (see :attr:`ReasonGuide.retry_unchanged`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

__all__ = ["GUIDES", "Reason", "ReasonGuide", "guide"]


class Reason(str, Enum):
    """Why an asset was skipped. The value is the stable code."""

    EXIF_ORIENTATION = "exif_orientation"
    MP4_MAJOR_BRAND = "mp4_major_brand"
    VIDEO_PIXEL_FORMAT = "video_pixel_format"
    CORRUPT = "corrupt"
    EMPTY = "empty"
    UNSUPPORTED_FORMAT = "unsupported_format"
    QUOTA_EXCEEDED = "quota_exceeded"
    READ_FAILED = "read_failed"

    @property
    def guide(self) -> ReasonGuide:
        """Title and fix for this reason (``Reason.CORRUPT.guide.fix``)."""
        return GUIDES[self]


@dataclass(frozen=True)
class ReasonGuide:
    """What a user reads about one reason: a short title and the fix they can apply."""

    reason: Reason
    title: str
    fix: str
    #: True when the cause lies outside the file (quota, storage access): a re-sync retries the
    #: blob even if its etag is unchanged. False when the file itself must change first.
    retry_unchanged: bool = False


_RESYNC = "Then run the sync again; the fixed file is picked up because its etag changes."

GUIDES: Mapping[Reason, ReasonGuide] = MappingProxyType(
    {
        Reason.EXIF_ORIENTATION: ReasonGuide(
            Reason.EXIF_ORIENTATION,
            "Image is rotated by an EXIF orientation tag",
            "The pixels are stored sideways or upside down and only the EXIF tag turns them, so "
            "annotations would not line up. Rotate the pixels for real and reset the tag, e.g. "
            "ImageMagick `mogrify -auto-orient photo.jpg`. If the picture already looks right "
            "without the tag, remove the tag instead: "
            "`exiftool -Orientation= -overwrite_original photo.jpg`. " + _RESYNC,
        ),
        Reason.MP4_MAJOR_BRAND: ReasonGuide(
            Reason.MP4_MAJOR_BRAND,
            "MP4 major brand is not mp42",
            "Only MP4 files with major brand `mp42` play reliably in the annotation tool. "
            "Re-encode (or remux) the file, for example "
            "`ffmpeg -i in.mp4 -c:v libx264 -pix_fmt yuv420p -brand mp42 out.mp4`, and confirm "
            "with `ffprobe -show_format out.mp4` that `major_brand=mp42`. " + _RESYNC,
        ),
        Reason.VIDEO_PIXEL_FORMAT: ReasonGuide(
            Reason.VIDEO_PIXEL_FORMAT,
            "Video pixel format is not yuv420p",
            "The video stream uses a pixel format browsers may not decode (for example 4:4:4, "
            "10-bit or full-range `yuvj420p`). Re-encode to 8-bit 4:2:0 limited range: "
            "`ffmpeg -i in.mp4 -c:v libx264 -pix_fmt yuv420p -brand mp42 out.mp4`, and check "
            "that `ffprobe -show_streams out.mp4` reports `pix_fmt=yuv420p`. " + _RESYNC,
        ),
        Reason.CORRUPT: ReasonGuide(
            Reason.CORRUPT,
            "File is damaged or incomplete",
            "The file starts like a known image or video but its structure is broken, often "
            "because an upload was cut short. Upload the original file again (compare its size "
            "with the source), or re-export it from the application that created it. " + _RESYNC,
        ),
        Reason.EMPTY: ReasonGuide(
            Reason.EMPTY,
            "File is empty",
            "The blob has zero bytes. Upload the real file under the same name, or delete the "
            "placeholder. " + _RESYNC,
        ),
        Reason.UNSUPPORTED_FORMAT: ReasonGuide(
            Reason.UNSUPPORTED_FORMAT,
            "File format is not supported",
            "Supported images are JPEG, PNG, WebP, TIFF, BMP and GIF; supported videos are "
            "MP4/M4V, MOV, AVI, WebM, MKV, FLV, OGG/OGV, 3GP and ASF/WMV. The format is judged "
            "from the file content, not its name. Convert the file, e.g. "
            "`magick in.heic out.jpg` for images or "
            "`ffmpeg -i in.ts -c:v libx264 -pix_fmt yuv420p -brand mp42 out.mp4` for videos. "
            + _RESYNC,
        ),
        Reason.QUOTA_EXCEEDED: ReasonGuide(
            Reason.QUOTA_EXCEEDED,
            "Monthly data-row quota reached",
            "The organisation used all data rows of its plan for this month, so this file was "
            "not imported. Raise the quota or wait for next month, then sync again; the file "
            "itself needs no change.",
            retry_unchanged=True,
        ),
        Reason.READ_FAILED: ReasonGuide(
            Reason.READ_FAILED,
            "File could not be read from storage",
            "Reading the blob failed even after retries (storage busy, network trouble, or the "
            "blob changed or vanished during the sync). Check that the role assignment still "
            "grants read access to the container, then sync again; the file itself needs no "
            "change.",
            retry_unchanged=True,
        ),
    }
)


def guide(reason: Reason | str) -> ReasonGuide:
    """The guide for a reason or its code; raises ``ValueError`` for an unknown code."""
    return GUIDES[Reason(reason)]
