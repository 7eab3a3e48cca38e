"""Verdicts cross process boundaries as plain JSON and keep their invariants."""

from __future__ import annotations

import asyncio
import json

import pytest

import mediagen as mg
from shared.inspection import (
    BlobRef,
    Cost,
    Kind,
    MemoryReader,
    Outcome,
    Verdict,
    claimed_kind,
    inspect_blob,
    read_failed_verdict,
)
from shared.reasons import Reason


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rotated.jpg", mg.jpeg(orientation=6)),
        ("clip.mp4", mg.mp4(faststart=False)),
        ("notes.txt", mg.text()),
        ("fallback.mp4", mg.mp4(codec="mpeg4")),
    ],
)
def test_verdict_survives_a_json_round_trip(name: str, data: bytes) -> None:
    verdict = asyncio.run(inspect_blob(BlobRef(name, len(data), etag='"0x8D"'), MemoryReader(data)))
    wire = json.loads(json.dumps(verdict.to_json()))
    assert Verdict.from_json(wire) == verdict
    assert wire["etag"] == '"0x8D"'
    assert set(wire["cost"]) == {"requests", "bytes_read", "used_fallback"}


def test_a_skip_always_names_its_reason_and_only_other_is_ignored() -> None:
    with pytest.raises(ValueError, match="reason"):
        Verdict("a.jpg", 1, Kind.IMAGE, Outcome.SKIPPED)
    with pytest.raises(ValueError, match="reason"):
        Verdict("a.jpg", 1, Kind.IMAGE, Outcome.ACCEPTED, reason=Reason.CORRUPT)
    with pytest.raises(ValueError, match="ignored"):
        Verdict("a.jpg", 1, Kind.IMAGE, Outcome.IGNORED)
    with pytest.raises(ValueError, match="ignored"):
        Verdict("a.bin", 1, Kind.OTHER, Outcome.SKIPPED, reason=Reason.CORRUPT)


def test_read_failed_verdict_for_the_sync_engine() -> None:
    blob = BlobRef("cam/a.jpg", 10, etag='"e"')
    verdict = read_failed_verdict(blob, claimed_kind(blob.name), "storage refused the read (503)")
    assert (verdict.kind, verdict.outcome, verdict.reason) == (
        Kind.IMAGE,
        Outcome.SKIPPED,
        Reason.READ_FAILED,
    )
    unknown = read_failed_verdict(BlobRef("blob", 10), claimed_kind("blob"), "timeout")
    assert unknown.kind is Kind.OTHER and unknown.reason is Reason.READ_FAILED
    assert verdict.cost == Cost()


def test_claims_come_from_extension_then_content_type() -> None:
    assert claimed_kind("a/b/photo.JPG") is Kind.IMAGE
    assert claimed_kind("clip.MOV") is Kind.VIDEO
    assert claimed_kind("blob", "video/mp4") is Kind.VIDEO
    assert claimed_kind("blob", "image/png; charset=binary") is Kind.IMAGE
    assert claimed_kind("labels.json", "application/json") is Kind.OTHER
    assert claimed_kind("folder.jpg/readme") is Kind.OTHER
