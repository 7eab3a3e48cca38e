"""What went wrong when talking to a customer's storage, as a stable, SDK-independent verdict."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

__all__ = [
    "AccountNotFoundError",
    "StorageFailure",
    "StorageFault",
    "TokenRequestError",
    "aad_code_of",
    "classify_error",
    "classify_http",
    "is_account_not_found",
]


class AccountNotFoundError(ServiceRequestError):
    """The storage account does not exist: its host name does not resolve (Azure), or the
    emulator is not configured to serve it. Raised before any byte is sent."""


class TokenRequestError(ClientAuthenticationError):
    """The platform's identity could not get a token for the customer's tenant.

    ``aad_code`` is the ``AADSTS`` number when Microsoft Entra ID gave one (``700016``: the app
    is not registered in that tenant). The message never carries a secret.
    """

    def __init__(self, message: str, *, aad_code: str | None = None) -> None:
        super().__init__(message=message)
        self.aad_code = aad_code


class StorageFault(str, Enum):
    ACCOUNT_NOT_FOUND = "account_not_found"
    ACCOUNT_DISABLED = "account_disabled"
    #: Connection refused, timeout, DNS server trouble: try again later.
    UNREACHABLE = "unreachable"
    #: 403 AuthorizationFailure: the account's network rules (firewall) refuse the platform.
    NETWORK_RULES = "network_rules"
    #: 403 AuthorizationPermissionMismatch: authenticated, but no role (or condition) allows it.
    PERMISSION_DENIED = "permission_denied"
    #: 401/403 on the token itself: wrong tenant, expired or malformed.
    AUTHENTICATION_FAILED = "authentication_failed"
    #: No token could be obtained from Microsoft Entra ID.
    TOKEN_UNAVAILABLE = "token_unavailable"  # noqa: S105 - a fault name
    CONTAINER_NOT_FOUND = "container_not_found"
    BLOB_NOT_FOUND = "blob_not_found"
    #: 503 ServerBusy / 500 OperationTimedOut / 429: slow down and retry.
    THROTTLED = "throttled"
    OTHER = "other"


_RETRYABLE = {StorageFault.UNREACHABLE, StorageFault.THROTTLED}
_AAD_CODE = re.compile(r"AADSTS(\d{5,7})")


@dataclass(frozen=True)
class StorageFailure:
    fault: StorageFault
    #: HTTP status when the service answered.
    status: int | None = None
    #: The service's ``x-ms-error-code`` (e.g. ``ContainerNotFound``), when it answered.
    error_code: str | None = None
    #: ``AADSTS`` number of a token failure.
    aad_code: str | None = None

    @property
    def retryable(self) -> bool:
        """A transient infrastructure problem (not a configuration one)."""
        return self.fault in _RETRYABLE


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and the errors the HTTP stacks wrap inside theirs."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        pending.extend([item.__cause__, item.__context__, *item.args])
        for attr in ("inner_exception", "reason", "os_error"):
            pending.append(getattr(item, attr, None))


def _dns_failure(exc: BaseException) -> int | None:
    for item in _chain(exc):
        if isinstance(item, socket.gaierror):
            return item.errno if isinstance(item.errno, int) else socket.EAI_NONAME
    return None


_NO_SUCH_NAME = {
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
}


def is_account_not_found(exc: BaseException) -> bool:
    """True when the account's host name does not exist (never worth a retry)."""
    if any(isinstance(item, AccountNotFoundError) for item in _chain(exc)):
        return True
    errno = _dns_failure(exc)
    return errno is not None and errno in _NO_SUCH_NAME


_BY_CODE = {
    "AuthorizationFailure": StorageFault.NETWORK_RULES,
    "AuthorizationPermissionMismatch": StorageFault.PERMISSION_DENIED,
    "AuthorizationSourceIPMismatch": StorageFault.NETWORK_RULES,
    "AuthorizationProtocolMismatch": StorageFault.NETWORK_RULES,
    "InvalidAuthenticationInfo": StorageFault.AUTHENTICATION_FAILED,
    "AuthenticationFailed": StorageFault.AUTHENTICATION_FAILED,
    "NoAuthenticationInformation": StorageFault.AUTHENTICATION_FAILED,
    "ContainerNotFound": StorageFault.CONTAINER_NOT_FOUND,
    "ContainerBeingDeleted": StorageFault.CONTAINER_NOT_FOUND,
    "BlobNotFound": StorageFault.BLOB_NOT_FOUND,
    "AccountIsDisabled": StorageFault.ACCOUNT_DISABLED,
    "AccountNotFound": StorageFault.ACCOUNT_NOT_FOUND,
    "ServerBusy": StorageFault.THROTTLED,
    "OperationTimedOut": StorageFault.THROTTLED,
    "InternalError": StorageFault.THROTTLED,
}


def classify_http(
    status: int | None, error_code: str | None, *, emulator: bool = False
) -> StorageFault:
    """The fault an HTTP answer stands for (``status`` and ``x-ms-error-code``)."""
    if error_code in _BY_CODE:
        return _BY_CODE[error_code]
    if emulator and status == 404 and error_code == "ResourceNotFound":
        # Azurite answers this for an account it does not serve; Azure would fail DNS instead.
        return StorageFault.ACCOUNT_NOT_FOUND
    if status == 401:
        return StorageFault.AUTHENTICATION_FAILED
    if status in (429, 500, 502, 503, 504):
        return StorageFault.THROTTLED
    return StorageFault.OTHER


def classify_error(exc: BaseException, *, emulator: bool = False) -> StorageFailure:
    """A stable verdict for any exception raised while calling customer storage."""
    if isinstance(exc, TokenRequestError):
        return StorageFailure(StorageFault.TOKEN_UNAVAILABLE, aad_code=exc.aad_code)
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        code = getattr(exc, "error_code", None)
        code = code if isinstance(code, str) else None
        return StorageFailure(
            classify_http(exc.status_code, code, emulator=emulator), exc.status_code, code
        )
    if isinstance(exc, ClientAuthenticationError):
        # Raised by a credential (no HTTP status from storage): no token was obtained.
        return StorageFailure(
            StorageFault.TOKEN_UNAVAILABLE, aad_code=aad_code_of(str(exc.message or ""))
        )
    if is_account_not_found(exc):
        return StorageFailure(StorageFault.ACCOUNT_NOT_FOUND)
    if isinstance(exc, ServiceRequestError | ServiceResponseError | OSError):
        return StorageFailure(StorageFault.UNREACHABLE)
    return StorageFailure(StorageFault.OTHER)


def aad_code_of(message: str) -> str | None:
    match = _AAD_CODE.search(message)
    return match.group(1) if match else None
