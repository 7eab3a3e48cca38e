"""Reading the diagnostic ladder's report (``POST .../connections/{id}/test``) in tests."""

from __future__ import annotations

from typing import Any

from tests.api.client import ApiClient

#: The smallest blob the ladder's ranged read treats as a JPEG.
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 600

#: Every check passing: what a correctly set-up connection reports.
ALL_PASS = {
    "storage_account": ("pass", "storage_account_found"),
    "identity": ("pass", "token_issued"),
    "network_access": ("pass", "network_allowed"),
    "list_blobs": ("pass", "blobs_listed"),
    "role_scope": ("pass", "role_scope_ok"),
    "read_blob": ("pass", "blob_readable"),
    "least_privilege": ("pass", "condition_enforced"),
    "cors": ("pass", "cors_ok"),
}


def run_test(
    client: ApiClient, org: str, connection_id: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Run the ladder on a connection: the report (the answer must be a 200) and the headers."""
    response = client.post(f"/api/orgs/{org}/connections/{connection_id}/test")
    assert response.status == 200, response.json
    return response.json, response.headers


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's checks by name."""
    return {c["check"]: c for c in report["checks"]}


def verdicts(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each check's ``(status, code)`` by name."""
    return {c["check"]: (c["status"], c["code"]) for c in report["checks"]}
