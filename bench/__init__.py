"""Benchmark of the sync service against baselines on the same container, in one run."""
