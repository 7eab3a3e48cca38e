"""The application's version, reported by /api/health."""

from __future__ import annotations

__all__ = ["APP_VERSION"]

APP_VERSION = "0.1.0"
