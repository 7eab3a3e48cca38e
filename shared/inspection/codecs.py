"""Pixel format from codec configuration records, named the way FFmpeg (``ffprobe``) names it.

No frame is decoded. Sources:

* H.264: ``avcC`` → first SPS → chroma format, bit depth and the VUI ``video_full_range_flag``
  and ``matrix_coefficients``. FFmpeg's H.264 decoder reports 8-bit full range as
  ``yuvj420p``/``yuvj422p``/``yuvj444p`` and 4:4:4 with an identity matrix as ``gbrp``.
* HEVC: ``hvcC`` → SPS, parsed through the short-term reference picture sets to the VUI.
  FFmpeg renames 8-bit 4:2:0 full range to ``yuvj420p`` and 4:4:4 identity to ``gbrp*``.
* AV1: ``av1C``; VP9: ``vpcC`` or the first key frame's uncompressed header; VP8: always 4:2:0.

Every function returns ``None`` when the answer is not certain (monochrome streams, a range
signalled only by the container, a parameter set that does not parse); the engine then falls
back to PyAV.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shared.inspection.bits import BitReader, BitstreamError, unescape_rbsp

__all__ = [
    "AvcSps",
    "HevcSps",
    "av1_pix_fmt",
    "avcc_first_sps",
    "h264_pix_fmt",
    "hevc_pix_fmt",
    "hvcc_first_sps",
    "parse_avc_sps",
    "parse_hevc_sps",
    "vp9_frame_pix_fmt",
    "vpcc_pix_fmt",
]

_BASE = {1: "yuv420p", 2: "yuv422p", 3: "yuv444p"}
_H264_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_MATRIX_RGB = 0


def _with_depth(base: str, depth: int) -> str | None:
    if depth == 8:
        return base
    if depth in (9, 10, 12, 14):
        return f"{base}{depth}le"
    return None


@dataclass(frozen=True)
class AvcSps:
    profile_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    width: int
    height: int
    #: ``None`` when the VUI could not be read; else whether it signals the video range.
    video_signal_type_present: bool | None
    full_range: bool
    colour_description_present: bool
    matrix_coefficients: int | None


def avcc_first_sps(avcc: bytes) -> bytes | None:
    """The first SPS NAL unit of an ``AVCDecoderConfigurationRecord``."""
    if len(avcc) < 8 or avcc[0] != 1:
        return None
    count = avcc[5] & 0x1F
    if count == 0:
        return None
    (length,) = struct.unpack_from(">H", avcc, 6)
    sps = avcc[8 : 8 + length]
    return sps if len(sps) == length and length > 1 else None


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last, nxt = 8, 8
    for _ in range(size):
        if nxt != 0:
            delta = r.se()
            nxt = (last + delta + 256) % 256
        last = nxt if nxt != 0 else last


def parse_avc_sps(nal: bytes) -> AvcSps:
    """Parse an H.264 SPS NAL unit (with its header byte) as far as the VUI signal type."""
    if not nal or nal[0] & 0x1F != 7:
        raise BitstreamError("not an SPS NAL unit")
    r = BitReader(unescape_rbsp(nal[1:]))
    profile = r.u(8)
    r.skip(16)  # constraint flags, level_idc
    r.ue()  # seq_parameter_set_id
    chroma, depth_l, depth_c, separate_planes = 1, 8, 8, False
    if profile in _H264_HIGH_PROFILES:
        chroma = r.ue()
        if chroma > 3:
            raise BitstreamError("bad chroma_format_idc")
        if chroma == 3:
            separate_planes = r.flag()
        depth_l, depth_c = r.ue() + 8, r.ue() + 8
        if depth_l > 14 or depth_c > 14:
            raise BitstreamError("bad bit depth")
        r.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if r.flag():  # seq_scaling_matrix_present_flag
            for i in range(12 if chroma == 3 else 8):
                if r.flag():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.skip(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    elif poc_type != 2:
        raise BitstreamError("bad pic_order_cnt_type")
    r.ue()  # max_num_ref_frames
    r.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.flag()
    if not frame_mbs_only:
        r.skip(1)
    r.skip(1)  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if r.flag():
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    if chroma == 0 or separate_planes:
        unit_x, unit_y = 1, 2 - int(frame_mbs_only)
    else:
        unit_x = 1 if chroma == 3 else 2
        unit_y = (2 if chroma == 1 else 1) * (2 - int(frame_mbs_only))
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - int(frame_mbs_only)) * height_units * 16 - unit_y * (crop[2] + crop[3])
    signal: bool | None = None
    full, colour, matrix = False, False, None
    try:
        signal = False
        if r.flag():  # vui_parameters_present_flag
            if r.flag() and r.u(8) == 255:  # aspect_ratio_info_present_flag, Extended_SAR
                r.skip(32)
            if r.flag():  # overscan_info_present_flag
                r.skip(1)
            signal = r.flag()
            if signal:
                r.skip(3)  # video_format
                full = r.flag()
                colour = r.flag()
                if colour:
                    r.skip(16)  # colour_primaries, transfer_characteristics
                    matrix = r.u(8)
    except BitstreamError:
        signal, full, colour, matrix = None, False, False, None
    return AvcSps(
        profile_idc=profile,
        chroma_format_idc=chroma,
        bit_depth_luma=depth_l,
        bit_depth_chroma=depth_c,
        width=width,
        height=height,
        video_signal_type_present=signal,
        full_range=full,
        colour_description_present=colour,
        matrix_coefficients=matrix,
    )


def h264_pix_fmt(
    sps: AvcSps, *, container_full_range: bool | None = None, container_matrix: int | None = None
) -> str | None:
    """What FFmpeg's H.264 decoder reports, or ``None`` when unsure.

    The container's colour signalling (``colr`` box, Matroska ``Colour``) matters only when the
    SPS does not signal range or matrix; those cases are left to the fallback.
    """
    chroma, depth = sps.chroma_format_idc, sps.bit_depth_luma
    if chroma == 0:
        return None
    vui_known = sps.video_signal_type_present is not None
    if chroma == 3:
        if not vui_known:
            return None
        if not sps.colour_description_present and container_matrix == _MATRIX_RGB:
            return None
        if sps.colour_description_present and sps.matrix_coefficients == _MATRIX_RGB:
            return _with_depth("gbrp", depth)
    if depth == 8:
        if not vui_known:
            return None
        if not sps.video_signal_type_present and container_full_range:
            return None
        base = _BASE[chroma]
        return base.replace("yuv", "yuvj", 1) if sps.full_range else base
    return _with_depth(_BASE[chroma], depth)


@dataclass(frozen=True)
class HevcSps:
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    width: int
    height: int
    #: False when parsing stopped before the VUI (range and matrix then unknown).
    vui_read: bool
    full_range: bool
    matrix_coefficients: int | None


def hvcc_first_sps(hvcc: bytes) -> bytes | None:
    """The first SPS NAL unit (type 33) of an ``HEVCDecoderConfigurationRecord``."""
    if len(hvcc) < 23 or hvcc[0] != 1:
        return None
    pos = 23
    for _ in range(hvcc[22]):
        if pos + 3 > len(hvcc):
            return None
        nal_type = hvcc[pos] & 0x3F
        (count,) = struct.unpack_from(">H", hvcc, pos + 1)
        pos += 3
        for _ in range(count):
            if pos + 2 > len(hvcc):
                return None
            (length,) = struct.unpack_from(">H", hvcc, pos)
            nal = hvcc[pos + 2 : pos + 2 + length]
            pos += 2 + length
            if nal_type == 33 and len(nal) == length:
                return nal
    return None


def _skip_profile_tier_level(r: BitReader, max_sub_layers_minus1: int) -> None:
    r.skip(96)  # general profile (88 bits) + general_level_idc
    profile_present, level_present = [], []
    for _ in range(max_sub_layers_minus1):
        profile_present.append(r.flag())
        level_present.append(r.flag())
    if max_sub_layers_minus1 > 0:
        r.skip(2 * (8 - max_sub_layers_minus1))
    for i in range(max_sub_layers_minus1):
        if profile_present[i]:
            r.skip(88)
        if level_present[i]:
            r.skip(8)


def _skip_hevc_scaling_list_data(r: BitReader) -> None:
    for size_id in range(4):
        for _matrix_id in range(0, 6, 3 if size_id == 3 else 1):
            if not r.flag():  # scaling_list_pred_mode_flag
                r.ue()
                continue
            coef_num = min(64, 1 << (4 + (size_id << 1)))
            if size_id > 1:
                r.se()
            for _ in range(coef_num):
                r.se()


def _read_st_ref_pic_set(
    r: BitReader, idx: int, sets: list[tuple[list[int], list[int]]]
) -> tuple[list[int], list[int]]:
    """One ``st_ref_pic_set``; returns its negative and positive POC deltas."""
    if idx != 0 and r.flag():  # inter_ref_pic_set_prediction_flag
        sign = r.u(1)
        delta_rps = (1 - 2 * sign) * (r.ue() + 1)
        ref_neg, ref_pos = sets[idx - 1]
        ref = ref_neg + ref_pos
        deltas: list[int] = []
        for j in range(len(ref) + 1):
            used = r.flag()
            use_delta = True if used else r.flag()
            if use_delta:
                d = (ref[j] if j < len(ref) else 0) + delta_rps
                if d != 0:
                    deltas.append(d)
        neg = sorted((d for d in deltas if d < 0), reverse=True)
        pos = sorted(d for d in deltas if d > 0)
        return neg, pos
    n_neg, n_pos = r.ue(), r.ue()
    if n_neg > 16 or n_pos > 16:
        raise BitstreamError("too many reference pictures")
    neg, pos, poc = [], [], 0
    for _ in range(n_neg):
        poc -= r.ue() + 1
        r.skip(1)
        neg.append(poc)
    poc = 0
    for _ in range(n_pos):
        poc += r.ue() + 1
        r.skip(1)
        pos.append(poc)
    return neg, pos


def parse_hevc_sps(nal: bytes) -> HevcSps:
    """Parse an HEVC SPS NAL unit (with its 2-byte header) as far as the VUI signal type."""
    if len(nal) < 3 or (nal[0] >> 1) & 0x3F != 33:
        raise BitstreamError("not an SPS NAL unit")
    r = BitReader(unescape_rbsp(nal[2:]))
    r.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    r.skip(1)
    _skip_profile_tier_level(r, max_sub_layers_minus1)
    r.ue()  # sps_seq_parameter_set_id
    chroma = r.ue()
    if chroma > 3:
        raise BitstreamError("bad chroma_format_idc")
    if chroma == 3:
        r.skip(1)  # separate_colour_plane_flag
    width, height = r.ue(), r.ue()
    if r.flag():  # conformance_window_flag
        sub_w = 2 if chroma in (1, 2) else 1
        sub_h = 2 if chroma == 1 else 1
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    depth_l, depth_c = r.ue() + 8, r.ue() + 8
    try:
        log2_max_poc_lsb = r.ue() + 4
        ordering_all = r.flag()
        for _ in range(0 if ordering_all else max_sub_layers_minus1, max_sub_layers_minus1 + 1):
            r.ue()
            r.ue()
            r.ue()
        for _ in range(6):  # coding/transform block sizes and hierarchy depths
            r.ue()
        if r.flag() and r.flag():  # scaling_list_enabled_flag, sps_scaling_list_data_present
            _skip_hevc_scaling_list_data(r)
        r.skip(2)  # amp_enabled_flag, sample_adaptive_offset_enabled_flag
        if r.flag():  # pcm_enabled_flag
            r.skip(8)
            r.ue()
            r.ue()
            r.skip(1)
        num_sets = r.ue()
        if num_sets > 64:
            raise BitstreamError("too many short-term RPS")
        sets: list[tuple[list[int], list[int]]] = []
        for i in range(num_sets):
            sets.append(_read_st_ref_pic_set(r, i, sets))
        if r.flag():  # long_term_ref_pics_present_flag
            for _ in range(r.ue()):
                r.skip(log2_max_poc_lsb + 1)
        r.skip(2)  # sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
        full, matrix = False, None
        if r.flag():  # vui_parameters_present_flag
            if r.flag() and r.u(8) == 255:
                r.skip(32)
            if r.flag():
                r.skip(1)
            if r.flag():  # video_signal_type_present_flag
                r.skip(3)
                full = r.flag()
                if r.flag():
                    r.skip(16)
                    matrix = r.u(8)
    except BitstreamError:
        vui_read, full, matrix = False, False, None
    else:
        vui_read = True
    return HevcSps(
        chroma_format_idc=chroma,
        bit_depth_luma=depth_l,
        bit_depth_chroma=depth_c,
        width=width,
        height=height,
        vui_read=vui_read,
        full_range=full,
        matrix_coefficients=matrix,
    )


def hevc_pix_fmt(sps: HevcSps, *, container_full_range: bool | None = None) -> str | None:
    """What FFmpeg's HEVC decoder reports, or ``None`` when unsure."""
    chroma, depth = sps.chroma_format_idc, sps.bit_depth_luma
    if chroma == 0 or depth not in (8, 10, 12):
        return None
    fmt = _with_depth(_BASE[chroma], depth)
    needs_vui = (chroma == 1 and depth == 8) or chroma == 3
    if needs_vui:
        if not sps.vui_read:
            return None
        if chroma == 1 and not sps.full_range and container_full_range:
            return None
        if chroma == 1 and sps.full_range:
            return "yuvj420p"
        if chroma == 3 and sps.matrix_coefficients == _MATRIX_RGB:
            return _with_depth("gbrp", depth)
    return fmt


def av1_pix_fmt(av1c: bytes) -> str | None:
    """From an ``AV1CodecConfigurationRecord``: 4:2:0 and 4:2:2 only (others: fallback)."""
    if len(av1c) < 4 or av1c[0] != 0x81:
        return None
    profile = av1c[1] >> 5
    flags = av1c[2]
    high, twelve, mono = bool(flags & 0x40), bool(flags & 0x20), bool(flags & 0x10)
    ss_x, ss_y = bool(flags & 0x08), bool(flags & 0x04)
    if mono:
        return None
    depth = 12 if (profile == 2 and high and twelve) else (10 if high else 8)
    if ss_x and ss_y:
        return _with_depth("yuv420p", depth)
    if ss_x and not ss_y:
        return _with_depth("yuv422p", depth)
    return None


def vpcc_pix_fmt(vpcc: bytes) -> str | None:
    """From a ``VPCodecConfigurationRecord`` (``vpcC`` version 1)."""
    if len(vpcc) < 12 or vpcc[0] != 1:
        return None
    depth = vpcc[6] >> 4
    subsampling = (vpcc[6] >> 1) & 0x07
    matrix = vpcc[9]
    if subsampling in (0, 1):
        return _with_depth("yuv420p", depth)
    if subsampling == 2:
        return _with_depth("yuv422p", depth)
    if subsampling == 3 and matrix != _MATRIX_RGB:
        return _with_depth("yuv444p", depth)
    return None


_VP9_SUBSAMPLED = {(1, 1): "yuv420p", (1, 0): "yuv422p", (0, 1): "yuv440p", (0, 0): "yuv444p"}


def vp9_frame_pix_fmt(frame: bytes) -> str | None:
    """From the uncompressed header of a VP9 key frame; ``None`` for other frames."""
    try:
        r = BitReader(frame[:16])
        if r.u(2) != 2:
            return None
        profile = r.u(1) | (r.u(1) << 1)
        if profile == 3:
            r.skip(1)
        if r.flag():  # show_existing_frame
            return None
        if r.u(1) != 0:  # frame_type: not a key frame
            return None
        r.skip(2)  # show_frame, error_resilient_mode
        if r.u(24) != 0x498342:
            return None
        depth = 8
        if profile >= 2:
            depth = 12 if r.flag() else 10
        color_space = r.u(3)
        if color_space == 7:  # CS_RGB
            if profile in (1, 3):
                return _with_depth("gbrp", depth)
            return None
        r.skip(1)  # color_range
        ss = (1, 1)
        if profile in (1, 3):
            ss = (r.u(1), r.u(1))
        return _with_depth(_VP9_SUBSAMPLED[ss], depth)
    except BitstreamError:
        return None
