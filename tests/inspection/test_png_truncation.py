"""A PNG cut short inside its first IDAT chunk is ``corrupt``: the chunk's declared length is
checked against the blob's listed size, with no extra read."""

from __future__ import annotations

import asyncio
import io
import struct

from PIL import Image

from shared.inspection import BlobRef, MemoryReader, Verdict, inspect_blob


def _png(width: int = 64, height: int = 48) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [((x * 7) % 256, (y * 5) % 256, (x * y) % 256) for y in range(height) for x in range(width)]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _first_idat(data: bytes) -> tuple[int, int]:
    """(offset, declared length) of the first IDAT chunk."""
    pos = 8
    while True:
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            return pos, length
        pos += 12 + length


def _inspect(data: bytes) -> tuple[Verdict, MemoryReader]:
    reader = MemoryReader(data)
    verdict = asyncio.run(inspect_blob(BlobRef("photos/cut.png", len(data)), reader))
    return verdict, reader


def test_whole_png_is_accepted() -> None:
    verdict, _ = _inspect(_png())
    assert verdict.reason is None
    assert (verdict.width, verdict.height) == (64, 48)


def test_png_cut_inside_its_idat_is_corrupt_without_reading_more() -> None:
    whole = _png()
    at, length = _first_idat(whole)
    assert length > 64  # the image data is big enough to cut in its middle
    cut = whole[: at + 8 + length // 2]
    verdict, reader = _inspect(cut)
    assert verdict.reason is not None and verdict.reason.value == "corrupt"
    _, whole_reader = _inspect(whole)
    assert reader.requests <= whole_reader.requests  # the blob's size came from the listing


def test_png_whose_idat_claims_more_than_the_blob_holds_is_corrupt() -> None:
    whole = bytearray(_png())
    at, length = _first_idat(bytes(whole))
    struct.pack_into(">I", whole, at, length + 10_000)  # the file still ends with IEND
    verdict, _ = _inspect(bytes(whole))
    assert verdict.reason is not None and verdict.reason.value == "corrupt"
