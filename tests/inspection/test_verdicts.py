"""Every fixture's verdict matches the ground truth from decoding the whole file."""

from __future__ import annotations

import asyncio
import math

import pytest

from shared.inspection import BlobRef, MemoryReader, Verdict, inspect_blob
from shared.reasons import Reason
from tests.inspection.conftest import Corpus
from tests.inspection.corpus import SPEC_NAMES, Fixture
from tests.inspection.oracle import Truth


def inspect(fx: Fixture) -> Verdict:
    blob = BlobRef(fx.name, len(fx.data), content_type=fx.content_type, etag='"0x1"')
    return asyncio.run(inspect_blob(blob, MemoryReader(fx.data)))


def assert_matches(verdict: Verdict, expected: Truth) -> None:
    """What a user sees (kind, outcome, reason, format, detail) and the recorded metadata."""
    got = (verdict.kind.value, verdict.outcome.value, verdict.reason, verdict.format)
    want = (expected.kind, expected.outcome, expected.reason, expected.format)
    assert got == want, f"{verdict.name}: {verdict.detail}"
    if expected.reason == Reason.EXIF_ORIENTATION:
        assert verdict.detail == f"orientation={expected.orientation}"
    elif expected.reason == Reason.MP4_MAJOR_BRAND:
        assert expected.major_brand is not None
        assert verdict.detail.startswith(f"major_brand={expected.major_brand.rstrip()}")
    elif expected.reason == Reason.VIDEO_PIXEL_FORMAT:
        assert verdict.detail == f"pix_fmt={expected.pix_fmt}"
    if expected.reason in (None, Reason.EXIF_ORIENTATION) and expected.kind == "image":
        assert (verdict.width, verdict.height) == (expected.width, expected.height)
        assert verdict.orientation == expected.orientation
    if expected.kind == "video" and expected.reason != Reason.CORRUPT and expected.format:
        assert verdict.major_brand == expected.major_brand
        if expected.format in ("mp4", "m4v") and expected.reason != Reason.MP4_MAJOR_BRAND:
            assert verdict.pix_fmt == expected.pix_fmt  # the rule needs it: never unknown
        elif verdict.pix_fmt is not None:
            assert verdict.pix_fmt == expected.pix_fmt
        if verdict.codec is not None:
            assert verdict.codec == expected.codec
        if verdict.width is not None:
            assert (verdict.width, verdict.height) == (expected.width, expected.height)
        if verdict.duration is not None and expected.duration is not None:
            assert math.isclose(verdict.duration, expected.duration, abs_tol=0.05)
        if verdict.frame_rate is not None and expected.frame_rate is not None:
            assert math.isclose(verdict.frame_rate, expected.frame_rate, rel_tol=0.01)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_verdict_matches_whole_file_decode(corpus: Corpus, name: str) -> None:
    fx = corpus[name]
    verdict = inspect(fx)
    assert_matches(verdict, corpus.truth(name))
    assert verdict.size == len(fx.data)
    assert verdict.cost.bytes_read <= len(fx.data)
    if fx.data:
        assert verdict.cost.requests >= 1


def test_corpus_covers_every_outcome_and_reason(corpus: Corpus) -> None:
    """The corpus is worth something only if it exercises every rule."""
    truths = [corpus.truth(name) for name in SPEC_NAMES]
    reasons = {t.reason for t in truths}
    for reason in (
        Reason.EXIF_ORIENTATION,
        Reason.MP4_MAJOR_BRAND,
        Reason.VIDEO_PIXEL_FORMAT,
        Reason.CORRUPT,
        Reason.EMPTY,
        Reason.UNSUPPORTED_FORMAT,
    ):
        assert reason.value in reasons
    assert {t.outcome for t in truths} == {"accepted", "skipped", "ignored"}
    pix_fmts = {t.pix_fmt for t in truths if t.kind == "video"}
    assert {"yuv420p", "yuvj420p", "yuv444p", "yuv420p10le"} <= pix_fmts
    brands = {t.major_brand for t in truths if t.kind == "video"}
    assert {"mp42", "isom", "qt  ", "M4V "} <= brands
    orientations = {t.orientation for t in truths if t.kind == "image"}
    assert {None, 1, 3, 6, 8} <= orientations


def test_big_jpeg_body_cut_is_a_known_blind_spot(corpus: Corpus) -> None:
    """Truncation inside JPEG scan data is invisible without reading the whole file.

    Pinned so that the limit stays documented: the head read accepts it while a full decode
    fails. If this starts failing, update the module docs of shared.inspection.images.
    """
    import mediagen as mg
    from tests.inspection.oracle import truth

    data = mg.truncate(mg.jpeg(800, 600, noise=0.5, seed=50), 0.8)
    fx = Fixture("cut body.jpg", "jpeg", data)
    verdict = inspect(fx)
    assert verdict.outcome.value == "accepted"
    assert verdict.cost.bytes_read <= 64 * 1024
    assert truth(fx).reason == Reason.CORRUPT
