"""Stable codes and customer-facing messages for a sync step that failed.

Exception types do not cross the durable boundary (the orchestrator sees plain text wrapped in
the runtime's "Activity function 'x' failed: ..." prose), so an activity raises
:class:`SyncStepError` whose message holds ``[code]`` and ``{step}``; the orchestrator reads them
back with :func:`code_of` and :func:`step_of` and records :func:`customer_message` on the run,
never the raw text. Messages never carry URLs, keys or tokens.

Transient codes (:data:`TRANSIENT_CODES`: the customer's storage unreachable or throttling, the
metadata store unavailable) are waited out by the orchestrator; every other code fails the run
at once (a missing account or container does not come back by retrying).
"""

from __future__ import annotations

import re

__all__ = [
    "TRANSIENT_CODES",
    "SyncStepError",
    "code_of",
    "customer_message",
    "metadata_error",
    "step_error",
    "step_of",
]

_CODE = re.compile(r"\[((?:sync|run)_[a-z_]+)\]")
_STEP = re.compile(r"\{([a-z ]+)\}")
_DEFAULT = "sync_step_failed"

#: Codes of outages a run waits out with durable timers before it gives up.
TRANSIENT_CODES = frozenset({"sync_unreachable", "sync_throttled", "sync_metadata_unavailable"})

_STEPS = {
    "listing": "while listing the container",
    "inspection": "while reading files",
    "finishing": "while finishing the run",
}

_MESSAGES = {
    "sync_account_not_found": (
        "The storage account does not exist (its name does not resolve). Check the account name "
        "of this connection, then sync again."
    ),
    "sync_account_disabled": (
        "The storage account is disabled. Re-enable it in the Azure portal, then sync again."
    ),
    "sync_container_not_found": (
        "The container no longer exists in the storage account. Recreate it, or point this "
        "connection at another container, then sync again."
    ),
    "sync_blob_not_found": (
        "Files disappeared while they were being read. Sync again to pick up the current state."
    ),
    "sync_network_rules": (
        "The storage account's firewall refused the platform. Allow access from the platform "
        "in the account's networking settings, then sync again."
    ),
    "sync_permission_denied": (
        "The platform is not allowed to read this container. Assign it the Storage Blob Data "
        "Reader role on the account or container (see the setup instructions), then sync again."
    ),
    "sync_authentication_failed": (
        "The storage account did not accept the platform's sign-in. Check that the platform "
        "app is registered in your tenant (see the setup instructions), then sync again."
    ),
    "sync_token_unavailable": (
        "The platform could not sign in to your tenant. Check that the platform app is "
        "registered in your tenant (see the setup instructions), then sync again."
    ),
    "sync_unreachable": (
        "The storage account could not be reached for {limit}. What was "
        "synced so far is kept; sync again once the account is reachable."
    ),
    "sync_throttled": (
        "The storage account kept answering that it is too busy for {limit}. What was "
        "synced so far is kept; sync again later."
    ),
    "sync_metadata_unavailable": (
        "Our service's storage was unavailable for {limit}. What was "
        "synced so far is kept; sync again in a few minutes."
    ),
    "run_interrupted": (
        "The sync was interrupted before it finished (the service restarted or the run was "
        "stopped outside the app). What was synced so far is kept; sync again to finish."
    ),
    "start_failed": "The sync could not be started. Try again in a moment.",
    _DEFAULT: (
        "The sync stopped because of an unexpected error. What was synced so far is kept; "
        "sync again, and contact support with the run id if it happens again."
    ),
}


class SyncStepError(RuntimeError):
    def __init__(self, code: str, step: str, detail: str = "") -> None:
        super().__init__(f"[{code}] {{{step}}} {detail}".rstrip())
        self.code = code
        self.step = step


def step_error(step: str, exc: BaseException, *, emulator: bool) -> SyncStepError:
    """A clear, secret-free error for ``step`` ("listing", "inspection", ...) of the
    customer's storage."""
    from shared.customer_storage import classify_error  # the orchestrator needs only code_of

    failure = classify_error(exc, emulator=emulator)
    detail = failure.fault.value.replace("_", " ")
    if failure.error_code:
        detail += f" ({failure.error_code})"
    return SyncStepError(f"sync_{failure.fault.value}", step, detail)


def metadata_error(step: str, exc: BaseException) -> SyncStepError:
    """The platform's own store (tables, staging blobs) failed during ``step``: an outage
    (unreachable, throttling, 5xx) is waited out; anything else is an unexpected error."""
    from shared.customer_storage import classify_error

    failure = classify_error(exc, emulator=False)
    if failure.retryable or (failure.status is not None and failure.status >= 500):
        return SyncStepError("sync_metadata_unavailable", step, failure.fault.value)
    return SyncStepError(_DEFAULT, step, type(exc).__name__)


def code_of(message: str) -> str:
    match = _CODE.search(message)
    return match.group(1) if match else _DEFAULT


def step_of(message: str) -> str | None:
    match = _STEP.search(message)
    return match.group(1) if match and match.group(1) in _STEPS else None


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds)} seconds"


def customer_message(code: str, *, step: str | None = None, waited: float | None = None) -> str:
    """What the customer reads for a run that ended with ``code``."""
    text = _MESSAGES.get(code, _MESSAGES[_DEFAULT])
    text = text.replace("{limit}", _duration(waited) if waited else "too long")
    if step in _STEPS:
        text = f"The sync stopped {_STEPS[step]}: {text[0].lower()}{text[1:]}"
    return text
