"""What can go wrong when the CLI talks to the service, and the exit code each outcome maps to.

The exception tree::

    BlobSyncError                  anything the client raises on purpose
    ├── ServiceUnreachable         no HTTP answer at all (DNS, refused, TLS, timeout)   exit 3
    └── ApiError                   the service answered with an error status
        ├── ClientError            4xx: the API refused the request                   exit 1
        └── ServerError            5xx: the service failed (carries a correlation id) exit 5

An :class:`ApiError` carries the RFC 9457 problem the service returned. When the body is not
``application/problem+json`` (an empty 401 from the Functions host for a missing key, a gateway's
HTML 502), a problem is synthesised from the status so callers always see the same shape.

Messages never contain keys: the client sends them in a header, never in a URL.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = [
    "ApiError",
    "BlobSyncError",
    "ClientError",
    "ExitCode",
    "ServerError",
    "ServiceUnreachable",
]


class ExitCode(IntEnum):
    """The CLI's exit codes (also listed in ``blobsync --help``)."""

    OK = 0
    #: The API refused the request (a 4xx problem: validation, not found, conflict, key...).
    REFUSED = 1
    #: Bad command line (click's own usage errors).
    USAGE = 2
    #: The service cannot be reached (wrong URL, not running, network, timeout).
    UNREACHABLE = 3
    #: A sync ended ``failed`` or ``cancelled``, or a connection test failed.
    RUN_FAILED = 4
    #: The service failed (5xx); the correlation id is printed.
    SERVER_ERROR = 5
    #: Interrupted with Ctrl-C while following a run; the run goes on.
    INTERRUPTED = 130


class BlobSyncError(Exception):
    """Base of every error the client raises on purpose."""

    exit_code: ExitCode = ExitCode.REFUSED


class ServiceUnreachable(BlobSyncError):
    """No HTTP answer from ``base_url``."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"cannot reach {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason


_HINTS = {
    401: (
        "Unauthorized",
        "The function key is missing or wrong. Pass --function-key or set BLOBSYNC_FUNCTION_KEY "
        "(admin operations such as `org set` need the admin key: --admin-key / BLOBSYNC_ADMIN_KEY).",
    ),
    403: ("Forbidden", "The key does not allow this operation."),
    404: (
        "Not found",
        "No such route. Check --base-url (the function app's root URL, e.g. "
        "https://<app>.azurewebsites.net).",
    ),
}


class ApiError(BlobSyncError):
    """The service answered ``status`` with ``problem`` (RFC 9457 problem details)."""

    def __init__(self, status: int, problem: dict[str, Any], *, method: str, path: str) -> None:
        self.status = status
        self.problem = problem
        self.method = method
        self.path = path
        #: A next step the CLI adds for the user (e.g. how to attach to the running sync).
        self.hint: str | None = None
        super().__init__(f"{method} {path}: {status} {self.code}: {self.detail}")

    @classmethod
    def from_status(
        cls,
        status: int,
        problem: dict[str, Any] | None,
        *,
        method: str,
        path: str,
        correlation_id: str | None = None,
    ) -> ApiError:
        """The right subclass for ``status``; synthesises a problem when the body had none."""
        body = dict(problem) if problem else _synthesised(status)
        if correlation_id and "correlationId" not in body:
            body["correlationId"] = correlation_id
        kind = ServerError if status >= 500 else ClientError
        return kind(status, body, method=method, path=path)

    @property
    def code(self) -> str:
        return str(self.problem.get("code") or f"http_{self.status}")

    @property
    def title(self) -> str:
        return str(self.problem.get("title") or "")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or "")

    @property
    def field_errors(self) -> list[dict[str, str]]:
        """Per-field problems of a ``validation_failed`` answer."""
        errors = self.problem.get("errors")
        if not isinstance(errors, list):
            return []
        return [
            {k: str(e.get(k, "")) for k in ("field", "code", "message")}
            for e in errors
            if isinstance(e, dict)
        ]

    @property
    def correlation_id(self) -> str | None:
        value = self.problem.get("correlationId")
        return str(value) if value else None


class ClientError(ApiError):
    """A 4xx answer: the API refused the request."""

    exit_code = ExitCode.REFUSED


class ServerError(ApiError):
    """A 5xx answer: the service failed."""

    exit_code = ExitCode.SERVER_ERROR


def _synthesised(status: int) -> dict[str, Any]:
    if status in _HINTS:
        title, detail = _HINTS[status]
    elif status >= 500:
        title, detail = "Server error", "The service failed without problem details."
    else:
        title, detail = "Request refused", "The service refused the request without details."
    return {"title": title, "status": status, "detail": detail, "code": f"http_{status}"}
