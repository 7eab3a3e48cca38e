"""Session caches for the inspection tests: fixtures are generated once, ground truth once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.inspection.corpus import SPECS, Fixture, build
from tests.inspection.oracle import Truth, truth


class Corpus:
    """Fixtures built on first use and kept for the session."""

    def __init__(self) -> None:
        self._fixtures: dict[str, Fixture] = {}
        self._truths: dict[str, Truth] = {}
        self._specs = {spec.name: spec for spec in SPECS}

    def __getitem__(self, name: str) -> Fixture:
        if name not in self._fixtures:
            self._fixtures[name] = build(self._specs[name])
        return self._fixtures[name]

    def truth(self, name: str) -> Truth:
        if name not in self._truths:
            self._truths[name] = truth(self[name])
        return self._truths[name]

    def all(self, keep: Callable[[Fixture], bool] = lambda fx: True) -> list[Fixture]:
        return [fx for fx in (self[name] for name in self._specs) if keep(fx)]


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return Corpus()
