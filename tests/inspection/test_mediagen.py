"""The generators make what they promise (checked with Pillow/PyAV and the raw bytes)."""

from __future__ import annotations

import io
import struct
from typing import Any, cast

import av
from PIL import Image

import mediagen as mg


def top_level_boxes(data: bytes) -> list[bytes]:
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        boxes.append(kind)
        pos += size if size else len(data)
    return boxes


def test_mp4_brand_and_moov_position_are_what_was_asked() -> None:
    first = top_level_boxes(mg.mp4(brand="mp42", faststart=True))
    last = top_level_boxes(mg.mp4(brand="isom", faststart=False))
    assert first.index(b"moov") < first.index(b"mdat")
    assert last.index(b"moov") > last.index(b"mdat")
    for data, brand in ((mg.mp4(brand="mp42"), "mp42"), (mg.mp4(brand="isom"), "isom")):
        with av.open(io.BytesIO(data)) as container:
            assert cast(Any, container).metadata["major_brand"] == brand


def test_pixel_formats_reach_the_file() -> None:
    for pix_fmt in ("yuv420p", "yuv444p", "yuv420p10le", "yuvj420p"):
        with av.open(io.BytesIO(mg.mp4(pix_fmt=pix_fmt))) as opened:
            container = cast(Any, opened)
            assert next(container.decode(video=0)).format.name == pix_fmt


def test_exif_padding_puts_the_exif_behind_that_many_bytes() -> None:
    data = mg.jpeg(orientation=6, exif_padding=100 * 1024)
    assert data.index(b"Exif\x00\x00") > 100 * 1024
    image = Image.open(io.BytesIO(data))
    assert image.getexif().get(0x0112) == 6
    assert image.size == (64, 48)


def test_large_mp4_recipe_exceeds_two_megabytes() -> None:
    data = mg.mp4(size=(160, 120), seconds=2.4, noise=1.0, crf=0)
    assert len(data) > 2_000_000


def test_mixed_set_is_deterministic_varied_and_uniquely_named() -> None:
    first = mg.mixed_set(30, seed=7, image_size=(320, 240))
    again = mg.mixed_set(30, seed=7, image_size=(320, 240))
    other = mg.mixed_set(30, seed=8, image_size=(320, 240))
    assert first == again
    assert first != other
    names = [name for name, _ in first]
    assert len(set(names)) == len(names) == 30
    extensions = {name.rsplit(".", 1)[1] for name in names}
    assert {"jpg", "mp4"} <= extensions
    assert any(" " in name for name in names)
