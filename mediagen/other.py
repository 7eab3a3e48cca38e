"""Files that are not images or videos (or only look like them), as bytes."""

from __future__ import annotations

import io
import json as jsonlib
import random
import struct
import wave
import zipfile

from mediagen.images import picture

__all__ = [
    "csv",
    "heic_like",
    "json",
    "pdf",
    "random_binary",
    "svg",
    "text",
    "wav",
    "xml",
    "zip_archive",
]

_WORDS = [
    "annotation",
    "label",
    "bounding",
    "box",
    "polygon",
    "keypoint",
    "dataset",
    "split",
    "train",
    "valid",
    "test",
    "camera",
    "frame",
    "asset",
    "sync",
    "container",
    "prefix",
    "blob",
    "etag",
    "quota",
    "orientation",
]


def text(size: int = 2000, *, seed: int = 0) -> bytes:
    """Plain UTF-8 prose (with a few non-ASCII characters), about ``size`` bytes."""
    rng = random.Random(seed)
    words: list[str] = []
    total = 0
    while total < size:
        word = rng.choice(_WORDS) if rng.random() > 0.05 else "café"
        words.append(word)
        total += len(word) + 1
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def json(rows: int = 20, *, seed: int = 0) -> bytes:
    """A COCO-like annotation file."""
    rng = random.Random(seed)
    doc = {
        "images": [{"id": i, "file_name": f"IMG_{i:04d}.jpg"} for i in range(rows)],
        "annotations": [
            {"id": i, "image_id": i, "bbox": [rng.randrange(100) for _ in range(4)]}
            for i in range(rows)
        ],
    }
    return jsonlib.dumps(doc, indent=2).encode("utf-8")


def csv(rows: int = 50, *, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    lines = ["file,label,x,y,w,h"]
    for i in range(rows):
        box = ",".join(str(rng.randrange(640)) for _ in range(4))
        lines.append(f"IMG_{i:04d}.jpg,{rng.choice(_WORDS)},{box}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def xml(objects: int = 5, *, seed: int = 0) -> bytes:
    """A Pascal VOC annotation."""
    rng = random.Random(seed)
    parts = ['<?xml version="1.0" encoding="utf-8"?>', "<annotation>", "<filename>a.jpg</filename>"]
    for _ in range(objects):
        x, y = rng.randrange(300), rng.randrange(300)
        parts.append(
            f"<object><name>{rng.choice(_WORDS)}</name><bndbox><xmin>{x}</xmin><ymin>{y}</ymin>"
            f"<xmax>{x + 20}</xmax><ymax>{y + 20}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts).encode("utf-8")


def svg(*, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    circle = f'<circle cx="{rng.randrange(64)}" cy="{rng.randrange(48)}" r="8" fill="red"/>'
    return (
        '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
        f"{circle}</svg>\n"
    ).encode()


def pdf(*, seed: int = 0) -> bytes:
    """A one-page PDF holding a picture (Pillow's PDF writer)."""
    buf = io.BytesIO()
    picture(64, 48, seed=seed).save(buf, "PDF")
    return buf.getvalue()


def heic_like(size: int = 4096, *, seed: int = 0) -> bytes:
    """An ISO BMFF file with HEIC brands and filler boxes: recognisable as HEIC, not a picture."""
    rng = random.Random(seed)
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"heic", 0) + b"mif1heic"
    body = rng.randbytes(max(0, size - len(ftyp) - 8))
    return ftyp + struct.pack(">I4s", 8 + len(body), b"meta") + body


def zip_archive(*, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("labels.json", json(5, seed=seed))
    return buf.getvalue()


def wav(seconds: float = 0.2, *, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(int(seconds * rate) * 2))
    return buf.getvalue()


def random_binary(size: int = 4096, *, seed: int = 0) -> bytes:
    """Unrecognisable binary content (starts with a byte no signature uses)."""
    data = random.Random(seed).randbytes(size)
    return b"\x03" + data[1:] if size else b""
