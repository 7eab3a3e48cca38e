"""The benchmark's container: a realistic mix of sizes and kinds, generated from a pool.

Default mix (per 100 blobs): 85 JPEG/PNG of 100 KB-1 MB (a quarter rotated by EXIF), 5 large
images of 3-8 MB, 5 MP4s (mixed brand, pixel format and moov position), 5 non-media files.
Files are drawn from a pool of distinct generated files, so generation stays fast while every
blob is a real file the service must judge.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import mediagen

__all__ = ["Pool", "blob_plan", "build_pool"]


@dataclass(frozen=True)
class Pool:
    regular: list[bytes]
    large: list[bytes]
    videos: list[bytes]
    other: list[bytes]


def build_pool(seed: int = 1, *, light: bool = False) -> Pool:
    """Distinct files of every class; ``light`` makes them small (memory/scale runs)."""
    rng = random.Random(seed)
    regular: list[bytes] = []
    for i in range(48):
        rotated = i % 4 == 0
        orientation = rng.choice((6, 8, 3)) if rotated else rng.choice((None, None, 1))
        size = (160, 120) if light else rng.choice(((800, 600), (1024, 768), (1280, 960)))
        if i % 6 == 5:
            regular.append(
                mediagen.png(size[0] // 2, size[1] // 2, orientation=orientation, seed=i, noise=0.3)
            )
        else:
            regular.append(
                mediagen.jpeg(
                    *size,
                    orientation=orientation,
                    thumbnail=rng.random() < 0.4,
                    quality=rng.choice((85, 90, 92)),
                    noise=rng.uniform(0.05, 0.3),
                    seed=i,
                )
            )
    large = [
        mediagen.jpeg(
            *((320, 240) if light else (3264, 2448)),
            orientation=6 if i % 4 == 0 else None,
            quality=95,
            noise=rng.uniform(0.4, 0.7),
            seed=100 + i,
        )
        for i in range(6)
    ]
    videos = []
    for i in range(8):
        brand = "isom" if i % 4 == 1 else "mp42"
        pix_fmt = "yuv444p" if i % 4 == 2 else "yuv420p"
        videos.append(
            mediagen.mp4(
                brand=brand,
                pix_fmt=pix_fmt,
                faststart=i % 2 == 0,
                size=(96, 64) if light else (640, 360),
                seconds=0.5 if light else 2.0,
                seed=200 + i,
            )
        )
    other = [mediagen.json(40, seed=1), mediagen.csv(200, seed=2), mediagen.text(seed=3)]
    return Pool(regular, large, videos, other)


def blob_plan(pool: Pool, count: int, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """``count`` (name, bytes) pairs following the default mix."""
    rng = random.Random(seed)
    folders = ("site-a/cam1", "site-a/cam2", "site-b/2026-11", "labelled", "raw/drone")
    for i in range(count):
        roll = rng.random()
        folder = rng.choice(folders)
        if roll < 0.85:
            data = rng.choice(pool.regular)
            ext = "png" if data[:4] == b"\x89PNG" else "jpg"
            yield f"{folder}/img_{i:06d}.{ext}", data
        elif roll < 0.90:
            yield f"{folder}/large_{i:06d}.jpg", rng.choice(pool.large)
        elif roll < 0.95:
            yield f"{folder}/clip_{i:06d}.mp4", rng.choice(pool.videos)
        else:
            yield f"{folder}/meta_{i:06d}.json", rng.choice(pool.other)
