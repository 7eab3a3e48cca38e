"""Content detection edge cases that the generated corpus does not reach."""

from __future__ import annotations

import pytest

from shared.inspection.sniff import sniff


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("Grüße, café; ".encode() * 800, ("text", "text")),  # UTF-8
        (("x" * 8190 + "é").encode()[:8191], ("text", "text")),  # cut inside a character
        ("naïve;café\r\n".encode("cp1252") * 100, ("text", "text")),  # legacy 8-bit CSV
        ("\ufeffa,b\n".encode("utf-16"), ("text", "text")),
        (b"ID3,label\n1,cat\n", ("text", "text")),  # a CSV header, not an MP3 tag
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64), ("mp3", "audio")),
        (b'<?xml version="1.0"?>\n<!-- x -->\n<svg width="1"/>', ("svg", "unsupported_image")),
        (b"<annotation><object/></annotation>", ("text", "text")),
        (bytes([0x47] + [0] * 187) * 4, ("mpegts", "unsupported_video")),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom", ("m4a", "audio")),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif", ("avif", "unsupported_image")),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", ("mov", "video")),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", ("wav", "audio")),
        (b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00", ("bmp", "image")),
        (b"BMW is a car brand, not a bitmap header\n", ("text", "text")),
        (b"\x03\x00\xfe\x01" * 64, (None, "unknown")),
    ],
)
def test_content_is_identified_by_its_bytes(head: bytes, expected: tuple[str | None, str]) -> None:
    found = sniff(head)
    assert (found.format, found.family) == expected
