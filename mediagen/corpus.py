"""A realistic mixed container: mostly camera JPEGs, some PNG/WebP/TIFF/BMP, MP4s (good and bad),
a few MOV/WebM, annotation files, and the odd empty, damaged or unsupported file."""

from __future__ import annotations

import random
from collections.abc import Callable

from mediagen import damage, images, other, video

__all__ = ["mixed_set"]

_FOLDERS = (
    "site-a/cam 1",
    "site-a/cam 2",
    "site-b/drone",
    "Zürich/Bahnhof",
    "labels",
    "2024-05-17",
)


def _rotation(rng: random.Random) -> int | None:
    roll = rng.random()
    if roll < 0.55:
        return None
    if roll < 0.85:
        return 1
    return rng.choice((3, 6, 8))


def mixed_set(
    n: int,
    seed: int = 0,
    *,
    image_size: tuple[int, int] = (800, 600),
    video_size: tuple[int, int] = (160, 120),
    video_seconds: float = 1.0,
) -> list[tuple[str, bytes]]:
    """``n`` (name, bytes) pairs, deterministic for ``seed``. Names are unique and include
    spaces and non-ASCII characters in folder names."""
    rng = random.Random(seed)
    w, h = image_size
    out: list[tuple[str, bytes]] = []

    def jpeg_camera(s: int) -> tuple[str, bytes]:
        return "jpg", images.jpeg(
            w,
            h,
            orientation=_rotation(rng),
            thumbnail=rng.random() < 0.4,
            icc_size=3144 if rng.random() < 0.15 else 0,
            quality=rng.choice((80, 85, 92)),
            seed=s,
            noise=rng.uniform(0.05, 0.3),
        )

    def png(s: int) -> tuple[str, bytes]:
        return "png", images.png(
            w // 2, h // 2, orientation=rng.choice((None, None, 1, 6)), seed=s, noise=0.1
        )

    def webp(s: int) -> tuple[str, bytes]:
        return "webp", images.webp(w, h, orientation=rng.choice((None, 1, 8)), seed=s)

    def tiff(s: int) -> tuple[str, bytes]:
        return "tif", images.tiff(w // 2, h // 2, compression="tiff_lzw", seed=s)

    def bmp(s: int) -> tuple[str, bytes]:
        return "bmp", images.bmp(w // 4, h // 4, seed=s)

    def mp4(s: int) -> tuple[str, bytes]:
        roll = rng.random()
        brand, pix_fmt = "mp42", "yuv420p"
        if roll < 0.12:
            brand = "isom"
        elif roll < 0.22:
            pix_fmt = "yuv444p"
        return "mp4", video.mp4(
            brand=brand,
            pix_fmt=pix_fmt,
            faststart=rng.random() < 0.7,
            size=video_size,
            seconds=video_seconds,
            seed=s,
            audio=rng.random() < 0.3,
        )

    def mov(s: int) -> tuple[str, bytes]:
        return "mov", video.mov(size=video_size, seconds=video_seconds / 2, seed=s)

    def webm(s: int) -> tuple[str, bytes]:
        return "webm", video.webm(size=video_size, seconds=video_seconds / 2, seed=s)

    def annotations(s: int) -> tuple[str, bytes]:
        return rng.choice(
            (
                ("json", other.json(30, seed=s)),
                ("csv", other.csv(80, seed=s)),
                ("txt", other.text(seed=s)),
            )
        )

    def oddity(s: int) -> tuple[str, bytes]:
        roll = rng.random()
        if roll < 0.3:
            return "jpg", b""
        if roll < 0.6:
            return "jpg", damage.truncate(images.jpeg(w // 4, h // 4, seed=s), 300)
        if roll < 0.8:
            return "pdf", other.pdf(seed=s)
        return "avif", images.avif(seed=s)

    kinds: list[tuple[float, Callable[[int], tuple[str, bytes]]]] = [
        (0.56, jpeg_camera),
        (0.09, png),
        (0.05, webp),
        (0.02, tiff),
        (0.02, bmp),
        (0.12, mp4),
        (0.02, mov),
        (0.02, webm),
        (0.07, annotations),
        (0.03, oddity),
    ]
    weights = [weight for weight, _ in kinds]
    for i in range(n):
        make = rng.choices([fn for _, fn in kinds], weights)[0]
        ext, data = make(seed * 100_003 + i)
        folder = rng.choice(_FOLDERS)
        stem = "IMG" if ext in ("jpg", "png", "webp", "tif", "bmp") else "asset"
        out.append((f"{folder}/{stem}_{i:05d}.{ext}", data))
    return out
