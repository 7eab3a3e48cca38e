"""Stable codes for a sync step that failed after its retries.

Exception types do not cross the durable boundary (the orchestrator sees plain text), so an
activity raises :class:`SyncStepError` whose message starts with ``[code]``; the orchestrator
reads the code back with :func:`code_of` and records it on the run. Messages never carry URLs,
keys or tokens: they are built from the storage fault and its error code only.
"""

from __future__ import annotations

import re

__all__ = ["SyncStepError", "code_of", "step_error"]

_CODE = re.compile(r"\[(sync_[a-z_]+)\]")
_DEFAULT = "sync_step_failed"


class SyncStepError(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


def step_error(step: str, exc: BaseException, *, emulator: bool) -> SyncStepError:
    """A clear, secret-free error for ``step`` ("listing", "inspection", ...)."""
    from shared.customer_storage import classify_error  # the orchestrator needs only code_of

    failure = classify_error(exc, emulator=emulator)
    detail = failure.fault.value.replace("_", " ")
    if failure.error_code:
        detail += f" ({failure.error_code})"
    return SyncStepError(f"sync_{failure.fault.value}", f"{step} failed after retries: {detail}")


def code_of(message: str) -> str:
    match = _CODE.search(message)
    return match.group(1) if match else _DEFAULT
