"""Function keys, as Azure checks them, for ``--require-keys``.

Without ``--require-keys`` the dev host is open, like ``func start``. With it:

* ``anonymous`` functions need no key; ``function`` functions accept the host's default function
  key or the master key; ``admin`` functions and the ``/admin/...`` API need the master key;
  the Durable webhooks (``/runtime/webhooks/durabletask/...``) need the ``durabletask_extension``
  system key (which the management URLs handed to client functions carry) or the master key.
* A key travels in the ``code`` query parameter or the ``x-functions-key`` header. A missing or
  wrong key is a 401 with an empty body.

Where keys come from, first match wins: ``DEVHOST_MASTER_KEY`` / ``DEVHOST_FUNCTION_KEY``
environment variables, then ``keys.json`` in the workspace directory (``<app>/.devhost`` unless
``--workspace`` says otherwise), else fresh random keys written to that file (mode 0600) so they
survive restarts. The host logs the file's path, never the keys.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from devhost.loader import AuthLevel

MASTER_KEY_ENV = "DEVHOST_MASTER_KEY"
FUNCTION_KEY_ENV = "DEVHOST_FUNCTION_KEY"
KEYS_FILE_NAME = "keys.json"
DURABLE_SYSTEM_KEY = "durabletask_extension"


class KeyScope(Enum):
    """What a request must present."""

    NONE = "none"
    FUNCTION = "function"
    ADMIN = "admin"
    DURABLE_WEBHOOK = "durable_webhook"

    @classmethod
    def for_auth_level(cls, level: AuthLevel) -> KeyScope:
        return {
            AuthLevel.ANONYMOUS: cls.NONE,
            AuthLevel.FUNCTION: cls.FUNCTION,
            AuthLevel.ADMIN: cls.ADMIN,
        }[level]


def _new_key() -> str:
    return secrets.token_urlsafe(40)


@dataclass(frozen=True)
class HostKeys:
    master: str
    function_default: str
    durable_system: str

    def to_json(self) -> dict[str, object]:
        return {
            "masterKey": self.master,
            "functionKeys": {"default": self.function_default},
            "systemKeys": {DURABLE_SYSTEM_KEY: self.durable_system},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> HostKeys:
        function_keys = data.get("functionKeys") or {}
        system_keys = data.get("systemKeys") or {}
        if not isinstance(function_keys, dict) or not isinstance(system_keys, dict):
            raise ValueError("keys file: functionKeys and systemKeys must be objects")
        return cls(
            master=str(data["masterKey"]),
            function_default=str(function_keys["default"]),
            durable_system=str(system_keys.get(DURABLE_SYSTEM_KEY) or _new_key()),
        )

    @classmethod
    def load_or_create(cls, workspace: Path, environ: Mapping[str, str]) -> HostKeys:
        """Environment first, then ``keys.json``, else new keys saved to ``keys.json``."""
        path = workspace / KEYS_FILE_NAME
        stored: HostKeys | None = None
        if path.is_file():
            stored = cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        keys = cls(
            master=environ.get(MASTER_KEY_ENV) or (stored.master if stored else _new_key()),
            function_default=environ.get(FUNCTION_KEY_ENV)
            or (stored.function_default if stored else _new_key()),
            durable_system=stored.durable_system if stored else _new_key(),
        )
        if keys != stored:
            workspace.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(keys.to_json(), handle, indent=2)
            tmp.replace(path)
        return keys

    @classmethod
    def read(cls, workspace: Path) -> HostKeys:
        """The keys a running host uses (for tools and tests)."""
        data = json.loads((workspace / KEYS_FILE_NAME).read_text(encoding="utf-8"))
        return cls.from_json(data)

    def accepts(self, scope: KeyScope, presented: str | None) -> bool:
        if scope is KeyScope.NONE:
            return True
        if not presented:
            return False
        allowed = [self.master]
        if scope is KeyScope.FUNCTION:
            allowed.append(self.function_default)
        elif scope is KeyScope.DURABLE_WEBHOOK:
            allowed.append(self.durable_system)
        return any(hmac.compare_digest(presented, key) for key in allowed)


class KeyPolicy:
    """Key enforcement switch: open (``func start`` behaviour) or enforced (Azure behaviour)."""

    def __init__(self, keys: HostKeys | None) -> None:
        self.keys = keys

    @property
    def enforced(self) -> bool:
        return self.keys is not None

    def allows(self, scope: KeyScope, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        if self.keys is None:
            return True
        presented = query.get("code") or headers.get("x-functions-key")
        return self.keys.accepts(scope, presented)
