"""Image files as bytes, made with Pillow (plus byte surgery where Pillow has no option).

Every function is deterministic for a given ``seed``. ``noise`` (0..1) blends random pixels over
a smooth picture: 0 compresses very well, 1 makes files as large as the format allows.
"""

from __future__ import annotations

import io
import random
import struct

from PIL import Image, ImageDraw, PngImagePlugin

from mediagen.exif import exif as exif_payload

__all__ = [
    "avif",
    "bmp",
    "gif",
    "ico",
    "jpeg",
    "jpeg2000",
    "picture",
    "png",
    "tiff",
    "webp",
]


def picture(width: int, height: int, *, seed: int = 0, noise: float = 0.2) -> Image.Image:
    """A deterministic RGB picture: gradient, a few shapes, optional noise."""
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    tints = []
    for _ in range(3):
        scale = rng.uniform(0.3, 1.0)
        tints.append(gradient.point([int(v * scale) for v in range(256)]))
    base = Image.merge(
        "RGB", (tints[0], tints[1].transpose(Image.Transpose.FLIP_LEFT_RIGHT), tints[2])
    )
    draw = ImageDraw.Draw(base)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = x0 + rng.randrange(1, max(2, width // 2))
        y1 = y0 + rng.randrange(1, max(2, height // 2))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    if noise > 0:
        grain = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
        base = Image.blend(base, grain, min(1.0, noise))
    return base


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > 65533:
        raise ValueError("a JPEG segment holds at most 65533 bytes")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _padding_segments(total: int) -> bytes:
    """COM segments adding up to ``total`` bytes (markers included)."""
    out = bytearray()
    while total > 0:
        size = min(total, 65537)
        if size < 4:
            size = 4
        out += _jpeg_segment(0xFE, b"\x00" * (size - 4))
        total -= size
    return bytes(out)


def jpeg(
    width: int = 64,
    height: int = 48,
    *,
    orientation: int | None = None,
    exif: bool | None = None,
    exif_padding: int = 0,
    icc_size: int = 0,
    thumbnail: bool = False,
    quality: int = 85,
    progressive: bool = False,
    seed: int = 0,
    noise: float = 0.2,
) -> bytes:
    """A baseline (or progressive) JPEG.

    ``orientation`` writes an EXIF APP1 with that tag (``exif=True`` writes EXIF without it);
    ``exif_padding`` puts that many bytes of COM segments between APP0 and APP1, so the EXIF sits
    behind them; ``icc_size`` adds an ICC profile of about that size (APP2, after the EXIF);
    ``thumbnail`` embeds a 160x120 JPEG thumbnail in IFD1 as cameras do.
    """
    image = picture(width, height, seed=seed, noise=noise)
    options: dict[str, object] = {"quality": quality, "progressive": progressive}
    if icc_size:
        options["icc_profile"] = random.Random(seed + 1).randbytes(icc_size)
    buf = io.BytesIO()
    image.save(buf, "JPEG", **options)
    data = buf.getvalue()
    want_exif = exif if exif is not None else (orientation is not None or thumbnail)
    if not want_exif and not exif_padding:
        return data
    insert = _padding_segments(exif_padding)
    if want_exif:
        thumb = None
        if thumbnail:
            small = io.BytesIO()
            image.resize((160, 120)).save(small, "JPEG", quality=75)
            thumb = small.getvalue()
        insert += _jpeg_segment(0xE1, b"Exif\x00\x00" + exif_payload(orientation, thumbnail=thumb))
    at = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF APP0 first
        at = 4 + struct.unpack_from(">H", data, 4)[0]
    return data[:at] + insert + data[at:]


def png(
    width: int = 64,
    height: int = 48,
    *,
    orientation: int | None = None,
    text_size: int = 0,
    mode: str = "RGB",
    seed: int = 0,
    noise: float = 0.2,
) -> bytes:
    """A PNG; ``orientation`` adds an ``eXIf`` chunk (before IDAT), ``text_size`` a tEXt chunk of
    that many bytes ahead of it (so the EXIF sits behind a large chunk)."""
    image = picture(width, height, seed=seed, noise=noise).convert(mode)
    info = PngImagePlugin.PngInfo()
    if text_size:
        filler = random.Random(seed + 2).randbytes((text_size + 1) // 2).hex()[:text_size]
        info.add_text("Comment", filler)
    options: dict[str, object] = {"pnginfo": info}
    if orientation is not None:
        options["exif"] = b"Exif\x00\x00" + exif_payload(orientation)
    buf = io.BytesIO()
    image.save(buf, "PNG", **options)
    return buf.getvalue()


def webp(
    width: int = 64,
    height: int = 48,
    *,
    orientation: int | None = None,
    lossless: bool = False,
    quality: int = 80,
    seed: int = 0,
    noise: float = 0.2,
) -> bytes:
    """A WebP (VP8, VP8L, or VP8X with an ``EXIF`` chunk after the bitstream)."""
    image = picture(width, height, seed=seed, noise=noise)
    options: dict[str, object] = {"lossless": lossless, "quality": quality}
    if orientation is not None:
        options["exif"] = exif_payload(orientation)
    buf = io.BytesIO()
    image.save(buf, "WEBP", **options)
    return buf.getvalue()


def tiff(
    width: int = 64,
    height: int = 48,
    *,
    orientation: int | None = None,
    compression: str | None = None,
    seed: int = 0,
    noise: float = 0.2,
) -> bytes:
    """A TIFF; orientation is the native tag 274. With ``compression`` (e.g. ``"tiff_lzw"``)
    libtiff writes the IFD after the image data, i.e. at the end of the file."""
    image = picture(width, height, seed=seed, noise=noise)
    options: dict[str, object] = {}
    if orientation is not None:
        options["tiffinfo"] = {274: orientation}
    if compression:
        options["compression"] = compression
    buf = io.BytesIO()
    image.save(buf, "TIFF", **options)
    return buf.getvalue()


def bmp(width: int = 64, height: int = 48, *, seed: int = 0, noise: float = 0.2) -> bytes:
    buf = io.BytesIO()
    picture(width, height, seed=seed, noise=noise).save(buf, "BMP")
    return buf.getvalue()


def gif(width: int = 64, height: int = 48, *, seed: int = 0, noise: float = 0.2) -> bytes:
    buf = io.BytesIO()
    picture(width, height, seed=seed, noise=noise).convert("P").save(buf, "GIF")
    return buf.getvalue()


def avif(width: int = 64, height: int = 48, *, seed: int = 0) -> bytes:
    """AVIF (recognised, not supported by the product)."""
    buf = io.BytesIO()
    picture(width, height, seed=seed).save(buf, "AVIF")
    return buf.getvalue()


def jpeg2000(width: int = 64, height: int = 48, *, seed: int = 0) -> bytes:
    """JPEG 2000 (JP2 box format; recognised, not supported)."""
    buf = io.BytesIO()
    picture(width, height, seed=seed).save(buf, "JPEG2000")
    return buf.getvalue()


def ico(size: int = 32, *, seed: int = 0) -> bytes:
    """A Windows icon (recognised, not supported)."""
    buf = io.BytesIO()
    picture(size, size, seed=seed).save(buf, "ICO", sizes=[(size, size)])
    return buf.getvalue()
