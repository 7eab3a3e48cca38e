"""Naming rules: every name is checked here before it reaches a URL, a table key or a shell
command. Pure: standard library only.

Two ways to use a rule:

- ``check_*`` returns the normalised value and a list of ``FieldError`` (empty when the value is
  good), so a request body can report every failing field at once;
- ``require_*`` returns the value or raises ``ValidationError`` (route parameters, and the
  storage layer's last line of defence before it builds an endpoint).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable

from shared.errors import FieldError, ValidationError

__all__ = [
    "CONNECTION_ID_LENGTH",
    "MAX_CONNECTION_NAME",
    "MAX_PREFIX",
    "check_connection_name",
    "check_container",
    "check_dataset_id",
    "check_prefix",
    "check_storage_account",
    "connection_name_key",
    "is_connection_id",
    "is_container",
    "is_org_id",
    "is_storage_account",
    "new_connection_id",
    "require_connection_id",
    "require_container",
    "require_org_id",
    "require_storage_account",
]

#: Azure storage account names: 3-24 lowercase letters and digits.
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
#: Azure container names: 3-63 lowercase letters, digits and single hyphens, starting and ending
#: with a letter or digit.
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
#: Organisation ids: 3-63 lowercase letters, digits and hyphens, starting and ending with a
#: letter or digit (they become table partition keys and URL segments).
_ORG = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
#: Dataset ids as the platform issues them: 1-64 letters, digits, hyphens and underscores.
_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: Connection ids: 16 lowercase letters and digits (about 82 random bits).
CONNECTION_ID_LENGTH = 16
_CONNECTION_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_CONNECTION_ID = re.compile(rf"[a-z0-9]{{{CONNECTION_ID_LENGTH}}}")
#: C0 and C1 control characters (also forbidden in table keys).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Lone UTF-16 surrogates: a JSON ``"\ud800"`` decodes to one, and no UTF-8 text can hold it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")

MAX_CONNECTION_NAME = 100
MAX_PREFIX = 1024

_ACCOUNT_RULE = "3-24 lowercase letters and digits"
_CONTAINER_RULE = (
    "3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
)
_ORG_RULE = "3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit"
_DATASET_RULE = "1-64 letters, digits, hyphens and underscores, starting with a letter or digit"


def _full(pattern: re.Pattern[str]) -> Callable[[object], bool]:
    def test(value: object) -> bool:
        return isinstance(value, str) and pattern.fullmatch(value) is not None

    return test


is_storage_account = _full(_ACCOUNT)
is_container = _full(_CONTAINER)
is_org_id = _full(_ORG)
is_connection_id = _full(_CONNECTION_ID)
_is_dataset = _full(_DATASET)


def _required(field: str, value: object) -> FieldError | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return FieldError(field, "required", "is required")
    if not isinstance(value, str):
        return FieldError(field, "invalid_type", "must be a string")
    return None


def _check_pattern(
    field: str, value: object, test: Callable[[object], bool], rule: str
) -> tuple[str, list[FieldError]]:
    missing = _required(field, value)
    if missing is not None:
        return "", [missing]
    assert isinstance(value, str)
    if not test(value):
        return value, [FieldError(field, "invalid_format", rule)]
    return value, []


def check_storage_account(
    value: object, field: str = "storageAccount"
) -> tuple[str, list[FieldError]]:
    return _check_pattern(field, value, is_storage_account, _ACCOUNT_RULE)


def check_container(value: object, field: str = "container") -> tuple[str, list[FieldError]]:
    return _check_pattern(field, value, is_container, _CONTAINER_RULE)


def check_dataset_id(value: object, field: str = "dataset") -> tuple[str, list[FieldError]]:
    return _check_pattern(field, value, _is_dataset, _DATASET_RULE)


def _not_text(field: str) -> FieldError:
    return FieldError(
        field, "invalid_characters", "must be valid Unicode text (no lone surrogates)"
    )


def check_connection_name(value: object, field: str = "name") -> tuple[str, list[FieldError]]:
    """A label of 1-100 characters after trimming, without control characters."""
    missing = _required(field, value)
    if missing is not None:
        return "", [missing]
    assert isinstance(value, str)
    if _SURROGATE.search(value):
        return "", [_not_text(field)]
    name = unicodedata.normalize("NFC", value.strip())
    if len(name) > MAX_CONNECTION_NAME:
        return name, [
            FieldError(field, "too_long", f"must be at most {MAX_CONNECTION_NAME} characters")
        ]
    if _CONTROL.search(name):
        return name, [
            FieldError(field, "invalid_characters", "must not contain control characters")
        ]
    return name, []


def connection_name_key(name: str) -> str:
    """Uniqueness key of a connection name within a dataset: case- and width-insensitive."""
    folded = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def check_prefix(value: object, field: str = "prefix") -> tuple[str, list[FieldError]]:
    """An optional blob-name prefix: at most 1,024 characters, no control characters, no
    leading ``/`` (Azure blob names never start with one, so it is dropped)."""
    if value is None:
        return "", []
    if not isinstance(value, str):
        return "", [FieldError(field, "invalid_type", "must be a string")]
    if _SURROGATE.search(value):
        return "", [_not_text(field)]
    prefix = value.lstrip("/")
    if len(prefix) > MAX_PREFIX:
        return prefix, [FieldError(field, "too_long", f"must be at most {MAX_PREFIX} characters")]
    if _CONTROL.search(prefix):
        return prefix, [
            FieldError(field, "invalid_characters", "must not contain control characters")
        ]
    return prefix, []


def new_connection_id() -> str:
    return "".join(secrets.choice(_CONNECTION_ALPHABET) for _ in range(CONNECTION_ID_LENGTH))


def _require(value: str, field: str, test: Callable[[object], bool], rule: str) -> str:
    if not test(value):
        raise ValidationError([FieldError(field, "invalid_format", rule)])
    return value


def require_org_id(value: str, field: str = "org") -> str:
    return _require(value, field, is_org_id, _ORG_RULE)


def require_connection_id(value: str, field: str = "connection") -> str:
    return _require(
        value, field, is_connection_id, f"{CONNECTION_ID_LENGTH} lowercase letters and digits"
    )


def require_storage_account(value: str, field: str = "storageAccount") -> str:
    return _require(value, field, is_storage_account, _ACCOUNT_RULE)


def require_container(value: str, field: str = "container") -> str:
    return _require(value, field, is_container, _CONTAINER_RULE)
