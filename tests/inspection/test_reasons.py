"""One registry holds every skip reason with a title and a fix a user can apply."""

from __future__ import annotations

from shared.reasons import GUIDES, Reason, guide


def test_every_reason_has_a_title_and_a_fix() -> None:
    assert set(GUIDES) == set(Reason)
    for reason in Reason:
        entry = guide(reason.value)
        assert entry.reason is reason and reason.guide is entry
        assert entry.title and entry.fix
        assert entry.title != entry.fix


def test_codes_are_the_stable_wire_values() -> None:
    assert {r.value for r in Reason} == {
        "exif_orientation",
        "mp4_major_brand",
        "video_pixel_format",
        "corrupt",
        "empty",
        "unsupported_format",
        "quota_exceeded",
        "read_failed",
    }
    assert Reason("exif_orientation") is Reason.EXIF_ORIENTATION
    assert Reason.CORRUPT == "corrupt"  # str enum: compares and serialises as its code


def test_fixes_name_the_tools_that_fix_the_file() -> None:
    rotation = Reason.EXIF_ORIENTATION.guide.fix
    assert "mogrify -auto-orient" in rotation
    assert "exiftool -Orientation= -overwrite_original" in rotation
    for reason in (Reason.MP4_MAJOR_BRAND, Reason.VIDEO_PIXEL_FORMAT):
        fix = reason.guide.fix
        assert "-pix_fmt yuv420p" in fix and "-brand mp42" in fix and "ffprobe" in fix
    for reason in Reason:
        assert "sync" in reason.guide.fix.lower()


def test_only_causes_outside_the_file_are_retried_when_the_etag_is_unchanged() -> None:
    retried = {r for r in Reason if r.guide.retry_unchanged}
    assert retried == {Reason.QUOTA_EXCEEDED, Reason.READ_FAILED}
