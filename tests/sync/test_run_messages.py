"""What a failed run tells the customer: a stable code and a message written for people, read
back from the text the Durable runtime wraps around an activity's error."""

from __future__ import annotations

import pytest

from shared.sync.failures import (
    TRANSIENT_CODES,
    SyncStepError,
    code_of,
    customer_message,
    step_of,
)


def _as_the_runtime_reports(err: SyncStepError, activity: str) -> str:
    return f"Activity function '{activity}' failed: SyncStepError: {err} \n Traceback ..."


@pytest.mark.parametrize(
    ("code", "step", "expected_start"),
    [
        ("sync_container_not_found", "listing", "The sync stopped while listing the container"),
        ("sync_permission_denied", "inspection", "The sync stopped while reading files"),
        ("sync_metadata_unavailable", "finishing", "The sync stopped while finishing the run"),
    ],
)
def test_the_message_names_the_step_and_hides_the_runtime_text(
    code: str, step: str, expected_start: str
) -> None:
    text = _as_the_runtime_reports(SyncStepError(code, step, "detail"), "sync_list_page")

    assert code_of(text) == code
    assert step_of(text) == step
    message = customer_message(code_of(text), step=step_of(text), waited=900)
    assert message.startswith(expected_start)
    for internal in ("Activity function", "SyncStepError", "Traceback", "sync_list_page", "["):
        assert internal not in message


def test_outage_messages_say_how_long_it_waited() -> None:
    assert "15 minutes" in customer_message("sync_unreachable", waited=900)
    assert "45 seconds" in customer_message("sync_throttled", waited=45)
    assert {"sync_unreachable", "sync_throttled", "sync_metadata_unavailable"} == TRANSIENT_CODES


def test_unknown_text_is_an_unexpected_error_without_details() -> None:
    text = "Activity function 'x' failed: KeyError: 'https://acct.blob.core.windows.net/?sig=abc'"

    assert code_of(text) == "sync_step_failed"
    message = customer_message(code_of(text), step=step_of(text))
    assert "sig=" not in message and "https" not in message
    assert "run id" in message
