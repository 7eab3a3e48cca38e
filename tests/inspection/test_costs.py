"""What inspection costs: ranged reads only, never the bytes in between, never whole files."""

from __future__ import annotations

import asyncio

import pytest

import mediagen as mg
from shared.inspection import (
    HEAD_SIZE,
    VIDEO_HEAD_SIZE,
    BlobRef,
    MemoryReader,
    Verdict,
    inspect_blob,
)
from tests.inspection.conftest import Corpus

KIB = 1024


def run(name: str, data: bytes) -> tuple[Verdict, MemoryReader]:
    reader = MemoryReader(data)
    verdict = asyncio.run(inspect_blob(BlobRef(name, len(data)), reader))
    assert (verdict.cost.requests, verdict.cost.bytes_read) == (reader.requests, reader.bytes_read)
    return verdict, reader


def untouched(reader: MemoryReader, start: int, end: int) -> bool:
    """No read overlapped [start, end)."""
    return all(off + n <= start or off >= end for off, n in reader.ranges)


def test_a_camera_jpeg_is_decided_by_one_small_read(corpus: Corpus) -> None:
    fx = corpus["images/camera with thumbnail.jpg"]
    assert len(fx.data) > 3 * 64 * KIB
    verdict, reader = run(fx.name, fx.data)
    assert verdict.detail == "orientation=6"
    assert reader.ranges == [(0, HEAD_SIZE)]
    assert HEAD_SIZE <= 16 * KIB


@pytest.mark.parametrize(
    ("name", "max_requests"),
    [
        ("images/exif behind 100 KiB.jpg", 3),
        ("images/exif-o1 behind 100 KiB.jpg", 3),
        ("images/big icc before sof.jpg", 3),
        ("images/exif after big chunk.png", 2),
        ("images/big exif at end.webp", 2),
        ("images/ifd at end.tif", 2),
    ],
)
def test_metadata_far_in_costs_small_hops_not_the_bytes_between(
    corpus: Corpus, name: str, max_requests: int
) -> None:
    fx = corpus[name]
    verdict, reader = run(fx.name, fx.data)
    assert verdict.kind.value == "image"
    assert verdict.reason is None or verdict.reason.value == "exif_orientation"
    assert verdict.cost.requests <= max_requests
    assert verdict.cost.bytes_read <= 96 * KIB
    assert verdict.cost.bytes_read < len(fx.data) * 0.9
    assert untouched(reader, 64 * KIB + 16 * KIB, 64 * KIB + 32 * KIB) or len(fx.data) < 150 * KIB


@pytest.mark.parametrize(
    "name",
    [
        "videos/big/moov-first.mp4",
        "videos/big/moov-first-audio.mp4",
        "videos/big/moov-last.mp4",
        "videos/big/moov-last-audio.mp4",
    ],
)
def test_large_mp4s_cost_at_most_four_requests_and_two_percent(corpus: Corpus, name: str) -> None:
    fx = corpus[name]
    assert len(fx.data) > 2_000_000
    verdict, reader = run(fx.name, fx.data)
    assert verdict.accepted, verdict.detail
    assert verdict.pix_fmt == "yuv420p" and verdict.major_brand == "mp42"
    assert verdict.cost.requests <= 4
    assert verdict.cost.bytes_read <= 0.02 * len(fx.data)
    assert not verdict.cost.used_fallback
    middle = len(fx.data) // 2
    assert untouched(reader, middle - 100 * KIB, middle + 100 * KIB)  # mdat is never read


def test_moov_at_the_end_is_reached_by_jumping_over_mdat(corpus: Corpus) -> None:
    fx = corpus["videos/big/moov-last.mp4"]
    _, reader = run(fx.name, fx.data)
    assert len(reader.ranges) == 2
    tail_offset, tail_length = reader.ranges[1]
    assert tail_offset + tail_length == len(fx.data)


def test_pyav_fallback_reads_lazily_not_the_whole_file() -> None:
    """MPEG-4 Part 2 has no cheap pixel-format record: PyAV decides, over ranged reads."""
    data = mg.mp4(codec="mpeg4", size=(160, 120), seconds=2.4, noise=1.0, crf=1, seed=5)
    assert len(data) > 1_000_000
    verdict, _ = run("fallback.mp4", data)
    assert verdict.cost.used_fallback
    assert verdict.accepted and verdict.pix_fmt == "yuv420p" and verdict.codec == "mpeg4"
    assert verdict.cost.bytes_read < 0.3 * len(data)


def test_the_first_read_is_small_whatever_the_name() -> None:
    """One small head read (a little more for names that claim video, where the MP4 ``moov``
    often fits); the name never changes the verdict."""
    data = mg.jpeg(1024, 768, orientation=3, noise=0.4)
    as_video, video_reader = run("clip.mp4", data)
    as_image, image_reader = run("photo.jpg", data)
    assert video_reader.ranges[0] == (0, VIDEO_HEAD_SIZE)
    assert image_reader.ranges[0] == (0, HEAD_SIZE)
    assert len(image_reader.ranges) == 1
    assert (as_video.format, as_video.reason) == (as_image.format, as_image.reason)
    assert as_video.detail == as_image.detail == "orientation=3"
