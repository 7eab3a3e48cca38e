"""How a format parser reports that it cannot accept the content (internal to the engine).

    ParseOutcome
    ├── Corrupt      the signature was recognised but the structure is broken → ``corrupt``
    └── Unsupported  a valid variant we do not import (e.g. BMP with embedded PNG)

A parser that cannot tell a property (e.g. a pixel format) returns ``None`` for it instead; the
engine decides whether PyAV must answer.

These never leave :func:`shared.inspection.inspect_blob`: they become verdicts.
"""

from __future__ import annotations

__all__ = ["Corrupt", "ParseOutcome", "Unsupported"]


class ParseOutcome(Exception):
    def __init__(self, detail: str, *, format: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        #: The format id when the parser learnt it before failing (e.g. ``webm`` vs ``mkv``).
        self.format = format


class Corrupt(ParseOutcome):
    pass


class Unsupported(ParseOutcome):
    pass
