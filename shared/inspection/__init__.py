"""Asset inspection: for one blob, decide whether it becomes an asset, reading only the byte
ranges that decision needs (never the whole file).

Public surface::

    verdict = await inspect_blob(BlobRef(name, size, content_type, etag), reader)

* :class:`BlobRef` — what the listing says about a blob.
* :class:`RangeReader` — ``size`` + ``async read(offset, length)``; :class:`MemoryReader` for
  bytes in memory, :class:`shared.inspection.blob_reader.BlobRangeReader` for Azure (imported
  from its own module so this package does not pull in the storage SDK).
* :class:`Verdict` — kind (``image``/``video``/``other``), detected ``format``, outcome
  (``accepted``/``skipped``/``ignored``), :class:`~shared.reasons.Reason` and detail, metadata
  and :class:`Cost` (requests, bytes, PyAV fallback); ``to_json()``/``from_json()``.

Supported formats (judged by content, not by name):

* images — :data:`SUPPORTED_IMAGE_FORMATS`: JPEG, PNG, WebP, TIFF (incl. BigTIFF), BMP, GIF;
* videos — :data:`SUPPORTED_VIDEO_FORMATS`: MP4, M4V, MOV/QT, AVI, WebM, MKV, FLV, OGG/OGV, 3GP,
  ASF/WMV. MP4 and M4V must have major brand ``mp42`` and pixel format ``yuv420p``.

Recognised but unsupported (skipped ``unsupported_format``): HEIC/HEIF, AVIF, JPEG 2000,
JPEG XL, PSD, ICO, SVG, PDF, MPEG-TS, MPEG-PS, RealMedia. Text, archives, audio and unknown
binaries are kind ``other`` and ignored, unless the blob's name or content type claims image or
video — then they are skipped ``unsupported_format``. Zero-byte blobs follow the same claim rule
(``empty`` or ignored). See :mod:`shared.inspection.engine` for the full rule set.
"""

from __future__ import annotations

from shared.inspection.engine import HEAD_SIZE, VIDEO_HEAD_SIZE, inspect_blob
from shared.inspection.formats import (
    SUPPORTED_IMAGE_FORMATS,
    SUPPORTED_VIDEO_FORMATS,
    UNSUPPORTED_IMAGE_FORMATS,
    UNSUPPORTED_VIDEO_FORMATS,
    claimed_kind,
)
from shared.inspection.model import (
    BlobRef,
    Cost,
    CostJson,
    Kind,
    Outcome,
    Verdict,
    VerdictJson,
    read_failed_verdict,
)
from shared.inspection.reader import CachingReader, MemoryReader, RangeReader, ReadError

__all__ = [
    "HEAD_SIZE",
    "SUPPORTED_IMAGE_FORMATS",
    "SUPPORTED_VIDEO_FORMATS",
    "UNSUPPORTED_IMAGE_FORMATS",
    "UNSUPPORTED_VIDEO_FORMATS",
    "VIDEO_HEAD_SIZE",
    "BlobRef",
    "CachingReader",
    "Cost",
    "CostJson",
    "Kind",
    "MemoryReader",
    "Outcome",
    "RangeReader",
    "ReadError",
    "Verdict",
    "VerdictJson",
    "claimed_kind",
    "inspect_blob",
    "read_failed_verdict",
]
