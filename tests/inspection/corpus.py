"""The fixture corpus: every case the inspection engine must get right, generated at test time.

Each spec names the blob, says what the generator *made* (``made_as``: the ground truth of
identity, e.g. a PNG stays ``png`` when named ``.jpg`` or cut short) and, for videos, how many
frames were encoded (so the oracle can tell a cut-off file from a whole one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mediagen as mg


@dataclass(frozen=True)
class Spec:
    name: str
    made_as: str
    build: Callable[[], bytes]
    frames: int | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Fixture:
    name: str
    made_as: str
    data: bytes
    frames: int | None = None
    content_type: str | None = None


SECONDS, FPS = 0.4, 25
FRAMES = round(SECONDS * FPS)
BIG_SECONDS = 2.4
BIG_FRAMES = round(BIG_SECONDS * FPS)
ORIENTATIONS = (None, 1, 3, 6, 8)


def _specs() -> list[Spec]:
    s: list[Spec] = []

    def add(
        name: str,
        made_as: str,
        build: Callable[[], bytes],
        *,
        frames: int | None = None,
        content_type: str | None = None,
    ) -> None:
        s.append(Spec(name, made_as, build, frames, content_type))

    # --- images: every supported format, without and with each orientation -----------------
    for o in ORIENTATIONS:
        tag = "none" if o is None else str(o)
        add(f"images/jpeg-o{tag}.jpg", "jpeg", lambda o=o: mg.jpeg(orientation=o, seed=1))
        add(f"images/png-o{tag}.png", "png", lambda o=o: mg.png(orientation=o, seed=2))
        add(f"images/webp-o{tag}.webp", "webp", lambda o=o: mg.webp(orientation=o, seed=3))
        add(f"images/tiff-o{tag}.tif", "tiff", lambda o=o: mg.tiff(orientation=o, seed=4))
    add("images/plain.bmp", "bmp", lambda: mg.bmp(seed=5))
    add("images/plain.gif", "gif", lambda: mg.gif(seed=6))
    add("images/exif-without-orientation.jpg", "jpeg", lambda: mg.jpeg(exif=True, seed=7))
    add("images/progressive.jpg", "jpeg", lambda: mg.jpeg(320, 240, progressive=True, seed=8))
    add("images/rgba.png", "png", lambda: mg.png(mode="RGBA", seed=9))
    add("images/lossless.webp", "webp", lambda: mg.webp(lossless=True, seed=10))
    # Larger than the head read: EXIF behind big segments / chunks / bitstreams / strips.
    add(
        "images/camera with thumbnail.jpg",
        "jpeg",
        lambda: mg.jpeg(1024, 768, orientation=6, thumbnail=True, icc_size=3144, noise=0.3),
    )
    add(
        "images/exif behind 100 KiB.jpg",
        "jpeg",
        lambda: mg.jpeg(640, 480, orientation=6, exif_padding=100 * 1024, seed=11),
    )
    add(
        "images/exif-o1 behind 100 KiB.jpg",
        "jpeg",
        lambda: mg.jpeg(640, 480, orientation=1, exif_padding=100 * 1024, seed=12),
    )
    add(
        "images/big icc before sof.jpg",
        "jpeg",
        lambda: mg.jpeg(320, 240, orientation=8, icc_size=100 * 1024, seed=13),
    )
    add(
        "images/exif after big chunk.png",
        "png",
        lambda: mg.png(orientation=6, text_size=100 * 1024, seed=14),
    )
    add(
        "images/big exif at end.webp",
        "webp",
        lambda: mg.webp(800, 600, orientation=3, quality=95, noise=0.8, seed=15),
    )
    add(
        "images/ifd at end.tif",
        "tiff",
        lambda: mg.tiff(300, 300, orientation=8, compression="tiff_lzw", noise=0.6, seed=16),
    )
    # --- MP4 rules: brand x pixel format x moov position -------------------------------------
    for brand in ("mp42", "isom"):
        for pix in ("yuv420p", "yuv444p", "yuv420p10le"):
            for faststart in (True, False):
                where = "moov-first" if faststart else "moov-last"
                add(
                    f"videos/mp4-{brand}-{pix}-{where}.mp4",
                    "mp4",
                    lambda b=brand, p=pix, f=faststart: mg.mp4(brand=b, pix_fmt=p, faststart=f),
                    frames=FRAMES,
                )
    add("videos/full-range.mp4", "mp4", lambda: mg.mp4(pix_fmt="yuvj420p"), frames=FRAMES)
    add(
        "videos/x264 fullrange flag.mp4",
        "mp4",
        lambda: mg.mp4(codec_options={"x264-params": "fullrange=on"}, faststart=False),
        frames=FRAMES,
    )
    for pix in ("yuv420p", "yuvj420p", "yuv444p", "yuv420p10le"):
        add(
            f"videos/hevc-{pix}.mp4",
            "mp4",
            lambda p=pix: mg.mp4(codec="hevc", pix_fmt=p),
            frames=FRAMES,
        )
    add("videos/mpeg4-part2.mp4", "mp4", lambda: mg.mp4(codec="mpeg4"), frames=FRAMES)
    add("videos/av1.mp4", "mp4", lambda: mg.mp4(codec="av1", size=(64, 64)), frames=FRAMES)
    add("videos/vp9.mp4", "mp4", lambda: mg.mp4(codec="vp9"), frames=FRAMES)
    add(
        "videos/with audio, moov last.mp4",
        "mp4",
        lambda: mg.mp4(audio=True, faststart=False),
        frames=FRAMES,
    )
    add("videos/itunes.m4v", "m4v", lambda: mg.m4v(), frames=FRAMES)
    add("videos/mp42.m4v", "mp4", lambda: mg.m4v(brand="mp42", faststart=True), frames=FRAMES)
    # --- other containers --------------------------------------------------------------------
    add("videos/clip.mov", "mov", lambda: mg.mov(), frames=FRAMES)
    add("videos/clip 444.mov", "mov", lambda: mg.mov(pix_fmt="yuv444p"), frames=FRAMES)
    add("videos/clip.3gp", "3gp", lambda: mg.three_gp(), frames=FRAMES)
    add("videos/clip-vp9.webm", "webm", lambda: mg.webm(), frames=FRAMES)
    add("videos/clip-vp8.webm", "webm", lambda: mg.webm(codec="vp8"), frames=FRAMES)
    add("videos/clip.mkv", "mkv", lambda: mg.mkv(), frames=FRAMES)
    add("videos/clip-hevc.mkv", "mkv", lambda: mg.mkv(codec="hevc"), frames=FRAMES)
    add("videos/clip.avi", "avi", lambda: mg.avi(), frames=FRAMES)
    add("videos/clip.flv", "flv", lambda: mg.flv(), frames=FRAMES)
    add("videos/clip.ogv", "ogv", lambda: mg.ogv(), frames=FRAMES)
    add("videos/clip.wmv", "asf", lambda: mg.asf(), frames=FRAMES)
    # --- large MP4s (> 2 MB), moov first and last -------------------------------------------
    for faststart in (True, False):
        for audio in (False, True):
            where = "moov-first" if faststart else "moov-last"
            add(
                f"videos/big/{where}{'-audio' if audio else ''}.mp4",
                "mp4",
                lambda f=faststart, a=audio: mg.mp4(
                    faststart=f, audio=a, size=(160, 120), seconds=BIG_SECONDS, noise=1.0, crf=0
                ),
                frames=BIG_FRAMES,
            )
    # --- recognised but unsupported ----------------------------------------------------------
    add("unsupported/stream.ts", "mpegts", lambda: mg.mpegts(), frames=FRAMES)
    add("unsupported/photo.avif", "avif", lambda: mg.avif())
    add("unsupported/photo.jp2", "jpeg2000", lambda: mg.jpeg2000())
    add("unsupported/favicon.ico", "ico", lambda: mg.ico())
    add("unsupported/scan.pdf", "pdf", lambda: mg.pdf())
    add("unsupported/logo.svg", "svg", lambda: mg.svg())
    add("unsupported/iphone.heic", "heic", lambda: mg.heic_like())
    # --- not media ---------------------------------------------------------------------------
    add("docs/readme.txt", "text", lambda: mg.text())
    add("docs/labels.json", "text", lambda: mg.json())
    add("docs/labels.csv", "text", lambda: mg.csv())
    add("docs/voc.xml", "text", lambda: mg.xml())
    add("docs/bundle.zip", "zip", lambda: mg.zip_archive())
    add("docs/blob.bin", "binary", lambda: mg.random_binary())
    add("docs/no extension", "binary", lambda: mg.random_binary(seed=3))
    add("audio/voice.m4a", "m4a", lambda: mg.m4a())
    add("audio/beep.wav", "wav", lambda: mg.wav())
    # --- named like media, but not (or nothing) -----------------------------------------------
    add("claims/random.mp4", "binary", lambda: mg.random_binary(seed=4))
    add("claims/notes.jpg", "text", lambda: mg.text(seed=5))
    add("claims/archive.png", "zip", lambda: mg.zip_archive(seed=6))
    add("claims/typed-video", "binary", lambda: mg.random_binary(seed=7), content_type="video/mp4")
    add("empty/photo.jpg", "empty", lambda: b"")
    add("empty/clip.mp4", "empty", lambda: b"")
    add("empty/notes.txt", "empty", lambda: b"")
    add("empty/folder placeholder", "empty", lambda: b"")
    # --- judged by content, not name ---------------------------------------------------------
    add("wrong-ext/really png.jpg", "png", lambda: mg.png(orientation=6, seed=20))
    add("wrong-ext/really jpeg.png", "jpeg", lambda: mg.jpeg(seed=21))
    add("wrong-ext/really jpeg.txt", "jpeg", lambda: mg.jpeg(orientation=3, seed=22))
    add("wrong-ext/really webm.mp4", "webm", lambda: mg.webm(codec="vp8"), frames=FRAMES)
    add("wrong-ext/really mp4.mov", "mp4", lambda: mg.mp4(brand="isom"), frames=FRAMES)
    # --- damaged -----------------------------------------------------------------------------
    add("damaged/header cut.jpg", "jpeg", lambda: mg.truncate(mg.jpeg(seed=30), 300))
    add("damaged/garbage after marker.jpg", "jpeg", lambda: mg.garble(mg.jpeg(seed=31), 3, 40))
    add("damaged/ihdr crc.png", "png", lambda: mg.garble(mg.png(seed=32), 16, 4))
    add(
        "damaged/cut before idat.png",
        "png",
        lambda: mg.truncate(mg.png(text_size=20_000, seed=33), 10_000),
    )
    add("damaged/cut.webp", "webp", lambda: mg.truncate(mg.webp(seed=34), 0.7))
    add("damaged/cut.bmp", "bmp", lambda: mg.truncate(mg.bmp(seed=35), 0.7))
    add("damaged/cut.tif", "tiff", lambda: mg.truncate(mg.tiff(seed=36), 0.7))
    add(
        "damaged/cut mdat moov-first.mp4",
        "mp4",
        lambda: mg.truncate(mg.mp4(faststart=True), 0.7),
        frames=FRAMES,
    )
    add(
        "damaged/cut moov-last.mp4",
        "mp4",
        lambda: mg.truncate(mg.mp4(faststart=False), 0.9),
        frames=FRAMES,
    )
    add(
        "damaged/garbage box.mp4",
        "mp4",
        lambda: mg.garble(mg.mp4(faststart=False), 32, 8),
        frames=FRAMES,
    )
    add("damaged/cut.mkv", "mkv", lambda: mg.truncate(mg.mkv(), 0.6), frames=FRAMES)
    add("damaged/cut.avi", "avi", lambda: mg.truncate(mg.avi(), 0.6), frames=FRAMES)
    # --- awkward names -----------------------------------------------------------------------
    add("names/photo #1?.jpg", "jpeg", lambda: mg.jpeg(orientation=1, seed=40))
    add("names/ünïcødé/日本 写真.png", "png", lambda: mg.png(seed=41))
    add("names/100% real.mp4", "mp4", lambda: mg.mp4(), frames=FRAMES)
    add("names/a b/c  d.webp", "webp", lambda: mg.webp(orientation=8, seed=42))
    return s


SPECS: tuple[Spec, ...] = tuple(_specs())
SPEC_NAMES: tuple[str, ...] = tuple(spec.name for spec in SPECS)
assert len(set(SPEC_NAMES)) == len(SPEC_NAMES), "fixture names must be unique"


def build(spec: Spec) -> Fixture:
    return Fixture(spec.name, spec.made_as, spec.build(), spec.frames, spec.content_type)
