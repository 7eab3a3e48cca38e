"""Parameter-set parsing against FFmpeg: the pixel format we derive without decoding equals the
format of the first frame FFmpeg decodes, and the SPS size equals the stream size."""

from __future__ import annotations

import io
from typing import Any, cast

import av
import pytest

import mediagen as mg
from shared.inspection import codecs
from shared.inspection.bits import BitReader, BitstreamError, unescape_rbsp


def decoded(data: bytes) -> tuple[bytes, str, int, int]:
    """(extradata, first frame pix_fmt, width, height) as FFmpeg sees them."""
    with av.open(io.BytesIO(data)) as opened:
        container = cast(Any, opened)
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        ctx = stream.codec_context
        return bytes(ctx.extradata), frame.format.name, ctx.width, ctx.height


H264_CASES = [
    ("yuv420p", {}, (64, 48)),
    ("yuv420p", {}, (100, 74)),  # cropping
    ("yuvj420p", {}, (64, 48)),
    ("yuv420p", {"x264-params": "fullrange=on"}, (64, 48)),
    ("yuv422p", {}, (64, 48)),
    ("yuvj422p", {}, (64, 48)),
    ("yuv444p", {}, (66, 50)),
    ("yuvj444p", {}, (64, 48)),
    ("yuv420p10le", {}, (64, 48)),
    ("yuv422p10le", {}, (64, 48)),
    ("yuv444p10le", {}, (64, 48)),
    ("yuv420p", {"x264-params": "cqm=jvt"}, (64, 48)),  # scaling matrices in the SPS
    ("yuv420p", {"x264-params": "interlaced=1"}, (64, 48)),
    ("yuv444p", {"x264-params": "colormatrix=GBR"}, (64, 48)),
    ("yuv420p", {"x264-params": "sar=4/3:colorprim=bt709:transfer=bt709"}, (64, 48)),
]


@pytest.mark.parametrize(("pix_fmt", "options", "size"), H264_CASES)
def test_h264_sps_gives_ffmpegs_pixel_format_and_size(
    pix_fmt: str, options: dict[str, str], size: tuple[int, int]
) -> None:
    data = mg.mp4(pix_fmt=pix_fmt, codec_options=options, size=size, seconds=0.12)
    avcc, ffmpeg_pix_fmt, width, height = decoded(data)
    sps_nal = codecs.avcc_first_sps(avcc)
    assert sps_nal is not None
    sps = codecs.parse_avc_sps(sps_nal)
    assert (sps.width, sps.height) == (width, height) == size
    assert codecs.h264_pix_fmt(sps) == ffmpeg_pix_fmt


HEVC_CASES = [
    ("yuv420p", {}, (64, 48)),
    ("yuv420p", {}, (100, 74)),
    ("yuvj420p", {}, (64, 48)),
    ("yuv420p", {"x265-params": "log-level=none:range=full"}, (64, 48)),
    ("yuv422p", {}, (64, 48)),
    ("yuv444p", {}, (64, 48)),
    ("yuv420p10le", {}, (64, 48)),
    ("yuv444p12le", {}, (64, 48)),
    ("yuv420p", {"x265-params": "log-level=none:scaling-list=default"}, (64, 48)),
    ("yuv420p", {"x265-params": "log-level=none:bframes=4:b-pyramid=1:ref=4"}, (64, 48)),
    ("yuv420p", {"x265-params": "log-level=none:sar=2:colorprim=bt709"}, (64, 48)),
    ("yuv444p", {"x265-params": "log-level=none:colormatrix=gbr"}, (64, 48)),
]


@pytest.mark.parametrize(("pix_fmt", "options", "size"), HEVC_CASES)
def test_hevc_sps_gives_ffmpegs_pixel_format_and_size(
    pix_fmt: str, options: dict[str, str], size: tuple[int, int]
) -> None:
    data = mg.mp4(codec="hevc", pix_fmt=pix_fmt, codec_options=options, size=size, seconds=0.2)
    hvcc, ffmpeg_pix_fmt, width, height = decoded(data)
    sps_nal = codecs.hvcc_first_sps(hvcc)
    assert sps_nal is not None
    sps = codecs.parse_hevc_sps(sps_nal)
    assert sps.vui_read
    assert (sps.width, sps.height) == (width, height) == size
    assert codecs.hevc_pix_fmt(sps) == ffmpeg_pix_fmt


def test_range_signalled_only_by_the_container_is_left_to_pyav() -> None:
    sps = codecs.AvcSps(100, 1, 8, 8, 64, 48, False, False, False, None)
    assert codecs.h264_pix_fmt(sps) == "yuv420p"
    assert codecs.h264_pix_fmt(sps, container_full_range=True) is None
    unreadable_vui = codecs.AvcSps(100, 1, 8, 8, 64, 48, None, False, False, None)
    assert codecs.h264_pix_fmt(unreadable_vui) is None
    ten_bit = codecs.AvcSps(110, 1, 10, 10, 64, 48, None, False, False, None)
    assert codecs.h264_pix_fmt(ten_bit) == "yuv420p10le"  # no yuvj variant above 8 bits
    mono = codecs.AvcSps(100, 0, 8, 8, 64, 48, True, False, False, None)
    assert codecs.h264_pix_fmt(mono) is None


def test_exp_golomb_and_emulation_prevention() -> None:
    # ue: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3; se: 00101 -> -2
    r = BitReader(bytes([0b10100110, 0b01000010, 0b10000000]))
    assert [r.ue(), r.ue(), r.ue(), r.ue(), r.se()] == [0, 1, 2, 3, -2]
    with pytest.raises(BitstreamError):
        BitReader(b"\x00").ue()
    assert unescape_rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x00") == b"\x00\x00\x01\x00\x00\x00"
    assert unescape_rbsp(b"\x01\x02") == b"\x01\x02"


def test_vp9_key_frame_header() -> None:
    data = mg.webm(codec="vp9", seconds=0.12)
    with av.open(io.BytesIO(data)) as opened:
        container = cast(Any, opened)
        packet = next(p for p in container.demux(video=0) if p.size)
        first = bytes(packet)
    assert codecs.vp9_frame_pix_fmt(first) == "yuv420p"
    assert codecs.vp9_frame_pix_fmt(b"\x00" * 16) is None


class BitWriter:
    """Writes the syntax elements of a parameter set, for hand-built edge cases."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> BitWriter:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def ue(self, value: int) -> BitWriter:
        code = value + 1
        return self.u(code.bit_length() - 1, 0).u(code.bit_length(), code)

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]
        bits += [0] * (-len(bits) % 8)
        raw = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        out, zeros = bytearray(), 0
        for byte in raw:  # emulation prevention, as an encoder would insert it
            if zeros >= 2 and byte <= 3:
                out.append(3)
                zeros = 0
            out.append(byte)
            zeros = zeros + 1 if byte == 0 else 0
        return bytes(out)


def hevc_sps_with_reference_sets(full_range: int, matrix: int) -> bytes:
    w = BitWriter().u(4, 0).u(3, 0).u(1, 1)
    w.u(2, 0).u(1, 0).u(5, 1).u(32, 0x60000000).u(4, 0b1001).u(44, 0).u(8, 93)
    w.ue(0).ue(1).ue(64).ue(48).u(1, 0).ue(0).ue(0).ue(4)
    w.u(1, 1).ue(4).ue(2).ue(0)
    w.ue(0).ue(2).ue(0).ue(3).ue(1).ue(1)
    w.u(1, 0).u(1, 1).u(1, 1).u(1, 0)  # no scaling lists, amp, sao, no pcm
    w.ue(3)  # three short-term reference picture sets
    w.ue(2).ue(1).ue(0).u(1, 1).ue(1).u(1, 1).ue(0).u(1, 1)  # set 0: -1, -3, +1
    w.u(1, 1).u(1, 1).ue(0)  # set 1 predicted from set 0 with deltaRps = -1
    w.u(1, 1).u(1, 0).u(1, 0).u(1, 1).u(1, 1)
    w.u(1, 1).u(1, 0).ue(1)  # set 2 predicted from set 1 with deltaRps = +2
    w.u(1, 1).u(1, 0).u(1, 1).u(1, 1)
    w.u(1, 1).ue(1).u(8, 5).u(1, 1)  # one long-term picture
    w.u(1, 1).u(1, 1)
    w.u(1, 1)  # VUI
    w.u(1, 1).u(8, 255).u(16, 4).u(16, 3).u(1, 0)
    w.u(1, 1).u(3, 5).u(1, full_range).u(1, 1).u(8, 1).u(8, 1).u(8, matrix)
    w.u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0)
    return b"\x42\x01" + w.rbsp()


def test_hevc_reference_picture_sets_in_the_sps_are_walked_to_the_vui() -> None:
    """x265 keeps its RPS in slice headers; cameras put them in the SPS, before the VUI."""
    full = codecs.parse_hevc_sps(hevc_sps_with_reference_sets(1, 1))
    assert (full.vui_read, full.full_range, full.matrix_coefficients) == (True, True, 1)
    assert (full.width, full.height, full.bit_depth_luma) == (64, 48, 8)
    assert codecs.hevc_pix_fmt(full) == "yuvj420p"
    limited = codecs.parse_hevc_sps(hevc_sps_with_reference_sets(0, 9))
    assert (limited.full_range, limited.matrix_coefficients) == (False, 9)
    assert codecs.hevc_pix_fmt(limited) == "yuv420p"


def test_h264_pic_order_count_type_1_is_walked_to_the_vui() -> None:
    w = BitWriter().u(8, 77).u(8, 0).u(8, 30).ue(0)  # Main profile: implied 4:2:0 8-bit
    w.ue(0).ue(1).u(1, 0).se(-2).se(3).ue(2).se(1).se(-1)  # poc type 1 with a cycle of 2
    w.ue(1).u(1, 0).ue(3).ue(2).u(1, 1).u(1, 1).u(1, 0)
    w.u(1, 1).u(1, 0).u(1, 0).u(1, 1).u(3, 5).u(1, 1).u(1, 0)  # VUI: full range
    sps = codecs.parse_avc_sps(b"\x67" + w.rbsp())
    assert (sps.width, sps.height) == (64, 48)
    assert sps.video_signal_type_present and sps.full_range
    assert codecs.h264_pix_fmt(sps) == "yuvj420p"
