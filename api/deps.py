"""Collaborators shared by the HTTP adapters, built once per worker process."""

from __future__ import annotations

from functools import lru_cache

from shared.settings import Settings

__all__ = ["reset", "settings"]


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


def reset() -> None:
    """Forget cached collaborators (tests that change the environment call this)."""
    settings.cache_clear()
