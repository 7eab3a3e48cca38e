"""The one error tree of the service. Each error has a stable ``code``, an HTTP ``status`` and a
user-facing ``title``/``detail``; ``api/`` turns them into RFC 9457 problem+json.

    DomainError
    ├── ValidationError          400 validation_failed   (+ per-field errors)
    ├── PlanRequiredError        403 plan_required
    ├── NotFoundError            404 <resource>_not_found
    ├── ConflictError            409 <reason>            (name taken, sync running, ...)
    ├── QuotaExceededError       409 quota_exceeded
    ├── PayloadTooLargeError     413 payload_too_large   (request body over the limit)
    ├── UnsupportedMediaTypeError 415 unsupported_media_type (body not application/json)
    ├── UpstreamError            424 <code>              (the customer's storage refused)
    ├── ServiceUnavailableError  503 <code>              (metadata store down; retryable)
    └── ConfigurationError       500 configuration_error (names the setting, never its value)

Expected outcomes of a sync (a skipped file) are data, not errors. Messages never carry URLs,
keys or tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "DomainError",
    "FieldError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PlanRequiredError",
    "QuotaExceededError",
    "ServiceUnavailableError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
    "ValidationError",
]


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field: ``field`` is a JSON pointer-ish dotted name."""

    field: str
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class DomainError(Exception):
    """Base of every error the API reports on purpose."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.extra: dict[str, Any] = dict(extra or {})
        self.retry_after = retry_after


class ValidationError(DomainError):
    status = 400
    default_code = "validation_failed"
    title = "The request is not valid"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        if not errors:
            raise ValueError("a ValidationError needs at least one field error")
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


class PlanRequiredError(DomainError):
    status = 403
    default_code = "plan_required"
    title = "A paid plan is required"


class NotFoundError(DomainError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class ConflictError(DomainError):
    status = 409
    default_code = "conflict"
    title = "Conflict with the current state"


class QuotaExceededError(DomainError):
    status = 409
    default_code = "quota_exceeded"
    title = "The monthly data-row quota is used up"


class PayloadTooLargeError(DomainError):
    status = 413
    default_code = "payload_too_large"
    title = "The request body is too large"


class UnsupportedMediaTypeError(DomainError):
    status = 415
    default_code = "unsupported_media_type"
    title = "The request body's media type is not supported"


class UpstreamError(DomainError):
    status = 424
    default_code = "customer_storage_error"
    title = "The customer's storage refused the request"


class ServiceUnavailableError(DomainError):
    status = 503
    default_code = "service_unavailable"
    title = "A backing service is unavailable"


class ConfigurationError(DomainError):
    status = 500
    default_code = "configuration_error"
    title = "The service is misconfigured"

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting {setting} {problem}", extra={"setting": setting})
        self.setting = setting
