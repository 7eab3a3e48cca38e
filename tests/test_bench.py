"""The benchmark keeps working: a small run in the suite checks the report's shape and counts
(never its speed: speed targets live in the benchmark itself)."""

from __future__ import annotations

from bench.run import faults_table, run, run_faults, table, window_times


def test_small_benchmark_run_reports_every_measurement() -> None:
    # Two worker processes (the host deals invocations to them in turn): a run's activities
    # spread over both give the same counts.
    report = run(
        200,
        light=True,
        naive_sample=40,
        seed=3,
        settings={"FUNCTIONS_WORKER_PROCESS_COUNT": "2"},
        repeat=2,
    )

    first = report["runs"]["firstSync"]["counts"]
    assert first["synced"] + first["skipped"] + first["ignored"] == 200
    assert first["failed"] == first["unchanged"] == first["removed"] == 0
    assert first["synced"] > 100
    assert first["skippedByReason"].get("exif_orientation", 0) > 0

    again = report["runs"]["noChangeResync"]["counts"]
    assert again["unchanged"] == 200
    assert again["synced"] == again["skipped"] == again["ignored"] == 0
    assert report["runs"]["noChangeResync"]["bytesRead"] == 0
    # Measured twice: the figure is one of the samples (the upper of two).
    samples = report["runs"]["noChangeResync"]["samples"]
    assert len(samples) == 2 and report["runs"]["noChangeResync"]["seconds"] == max(samples)

    delta = report["delta"]
    counts = report["runs"]["deltaResync"]["counts"]
    assert counts["added"] + counts["updated"] == delta["changed"] + delta["added"]
    assert counts["removed"] == delta["deleted"]
    assert counts["unchanged"] == 200 - delta["changed"] - delta["deleted"]

    baselines = report["baselines"]
    assert {b["blobs"] for b in baselines.values()} >= {200, 40}
    assert all(b["assetsPerSecond"] > 0 for b in baselines.values())
    assert set(report["ratios"]) == {
        "firstSyncVsRawFloor",
        "firstSyncVsNaive",
        "noChangeResyncVsRawListing",
        "noChangeResyncVsRclone",
        "noChangeResyncVsServedListing",
        "servedListingVsRawListing",
        "bytesReadVsStored",
    }
    # The pages served are every blob of the container, fewer requests than blobs.
    served = baselines["List Blobs pages served"]
    assert served["blobs"] == 200 and served["requests"] == 1
    assert len(served["samples"]) == 2 and round(served["seconds"], 3) == max(served["samples"])
    # Measured in rounds: each round has the re-sync and every listing, in the samples' order.
    rounds = report["rounds"]
    assert len(rounds) == 2
    assert [r["noChangeResync"] for r in rounds] == samples
    assert [r["List Blobs pages served"] for r in rounds] == served["samples"]
    assert all("raw listing (SDK)" in r for r in rounds)
    assert 0 < report["ratios"]["bytesReadVsStored"] <= 1
    # Bytes read per kind, from the rows: every asset counted, images read in part.
    kinds = report["firstSyncBytesByKind"]
    assert sum(k["assets"] for k in kinds.values()) == 200
    image = kinds["image"]
    assert 0 < image["bytesReadPerAsset"] <= image["maxBytesRead"] <= 64 * 1024
    assert image["bytesReadPerAsset"] < image["bytesStoredPerAsset"]
    assert report["peakRssBytes"] > 10 * 2**20
    assert report["largestHistoryPerExecution"] > 0
    # The 1,000,000-blob projection scales the measured times linearly.
    projected = report["projection"]
    assert projected["firstSyncHours"] * 3600 > 1000 * report["runs"]["firstSync"]["seconds"]
    rendered = table(report)
    assert "app setting FUNCTIONS_WORKER_PROCESS_COUNT=2" in rendered
    for label in (
        "firstSync",
        "raw floor",
        "naive",
        "peak RSS",
        "largest history",
        "projected",
        "bytes read per image",
    ):
        assert label in rendered


def test_fault_benchmark_gives_the_same_rows_with_and_without_faults() -> None:
    report = run_faults(150, light=True, seed=3)

    assert report["rows"] == {
        "noFaults": 150,
        "withFaults": 150,
        "differing": 0,
        "firstDiffering": [],
    }
    injected = report["injected"]
    assert injected["busy"] + injected["reset"] + injected["stall"] > 0
    assert (
        report["runs"]["firstSyncWithFaults"]["counts"]
        == (report["runs"]["firstSyncNoFaults"]["counts"])
    )
    assert report["ratio"] > 0
    assert "with / without faults" in faults_table(report)


def test_the_windows_are_timed_between_polls() -> None:
    """A poll can see a whole window at once: the time is read between the polls around it."""
    samples = [(0.5, 100), (1.0, 600), (1.5, 1000)]
    got = window_times(samples, 1000)
    assert got is not None
    assert got["window"] == 100
    assert got["startSeconds"] == 0.5
    # 900 reached three quarters of the way from 1.0 s (600) to 1.5 s (1000): 1.375 s.
    assert got["endSeconds"] == 0.1  # 0.125 s, rounded
    assert window_times([(0.5, 0), (1.0, 0), (2.0, 1000)], 1000) == {
        "window": 100,
        "startSeconds": 1.1,
        "endSeconds": 0.1,
        "endVsStart": 0.09,
    }
