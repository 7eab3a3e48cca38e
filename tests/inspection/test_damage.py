"""Damaged uploads never crash inspection: every mutation of every fixture gets a verdict, and
the parsers handle it themselves (the engine's last-resort safety net stays unused)."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

import mediagen as mg
from shared.inspection import BlobRef, MemoryReader, Verdict, inspect_blob
from tests.inspection.conftest import Corpus
from tests.inspection.corpus import SPEC_NAMES

ROUNDS = 3


def mutate(data: bytes, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.4:
        return mg.garble(
            data, rng.randrange(len(data)), rng.randrange(1, 16), seed=rng.randrange(9999)
        )
    if roll < 0.7:
        return data[: rng.randrange(1, len(data))]
    damaged = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        damaged[rng.randrange(min(len(damaged), 512))] = rng.randrange(256)
    return bytes(damaged)


def test_mutated_fixtures_always_get_a_verdict(
    corpus: Corpus, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20240517)
    names = [n for n in SPEC_NAMES if not n.startswith("videos/big/") and corpus[n].data]

    async def run() -> list[Verdict]:
        out = []
        for _ in range(ROUNDS):
            for name in names:
                data = mutate(corpus[name].data, rng)
                blob = BlobRef(name, len(data))
                out.append(await asyncio.wait_for(inspect_blob(blob, MemoryReader(data)), 30))
        return out

    with caplog.at_level(logging.WARNING, logger="shared.inspection.engine"):
        verdicts = asyncio.run(run())
    assert len(verdicts) == ROUNDS * len(names)
    assert not [r for r in caplog.records if "parser failed" in r.getMessage()]
    assert any(v.reason is not None and v.reason.value == "corrupt" for v in verdicts)
    assert all(v.cost.bytes_read <= v.size for v in verdicts)
