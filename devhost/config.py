"""host.json, local.settings.json and the storage connection string.

Settings precedence (the same rule Core Tools applies): ``local.settings.json`` ``Values`` are
copied into the process environment **unless the variable is already set** there, so an operator
or a test can override any app setting with an ordinary environment variable. The environment is
then the only source the app and the host read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.azurite import DEV_ACCOUNT, DEV_KEY

logger = logging.getLogger("devhost")

DEFAULT_HUB = "TestHubName"
#: The task hub when host.json names it by an app setting (``%TASK_HUB_NAME%``) that is not set.
#: The real host would keep the literal ``%...%`` and refuse it as a hub name; the dev host falls
#: back to this name (the app's historical hub) so a fresh checkout runs without the setting.
UNSET_HUB_SETTING_FALLBACK = "BlobSyncHub"
#: host.json ``functionTimeout`` when absent (the host's default outside the Consumption plan).
DEFAULT_FUNCTION_TIMEOUT = dt.timedelta(minutes=30)
DEFAULT_ROUTE_PREFIX = "api"
STORAGE_SETTING = "AzureWebJobsStorage"


class ConfigError(Exception):
    """host.json, local.settings.json or a connection string is unusable."""


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json the dev host honours."""

    route_prefix: str = DEFAULT_ROUTE_PREFIX
    hub_name: str = DEFAULT_HUB
    max_concurrent_activities: int = 10
    max_concurrent_orchestrations: int = 10
    max_orchestration_actions: int = 100_000
    #: host.json ``functionTimeout``; ``None`` = unlimited (``"-1"``).
    function_timeout: dt.timedelta | None = DEFAULT_FUNCTION_TIMEOUT

    @classmethod
    def load(cls, app_dir: Path, environ: Mapping[str, str] | None = None) -> HostConfig:
        path = app_dir / "host.json"
        if not path.is_file():
            raise ConfigError(f"{path} not found: a function app needs a host.json")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, environ if environ is not None else os.environ)

    @classmethod
    def from_dict(cls, data: Any, environ: Mapping[str, str]) -> HostConfig:
        if not isinstance(data, dict):
            raise ConfigError("host.json must hold a JSON object")
        if str(data.get("version", "")) != "2.0":
            raise ConfigError('host.json must declare "version": "2.0" (Functions runtime 2.x+)')
        extensions = _section(data, "extensions")
        http = _section(extensions, "http")
        durable = _section(extensions, "durableTask")
        prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX)
        if not isinstance(prefix, str):
            raise ConfigError("extensions.http.routePrefix must be a string")
        hub = _resolve_hub_name(str(durable.get("hubName") or DEFAULT_HUB), environ)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub):
            raise ConfigError(
                f"task hub name {hub!r} is invalid: 3-45 letters and digits, starting with a letter"
            )
        default_concurrency = 10 * _cpu_count()
        return cls(
            route_prefix=prefix.strip("/"),
            hub_name=hub,
            max_concurrent_activities=_positive_int(
                durable, "maxConcurrentActivityFunctions", default_concurrency
            ),
            max_concurrent_orchestrations=_positive_int(
                durable, "maxConcurrentOrchestratorFunctions", default_concurrency
            ),
            max_orchestration_actions=_positive_int(durable, "maxOrchestrationActions", 100_000),
            function_timeout=parse_function_timeout(data.get("functionTimeout")),
        )


def _section(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"host.json: {key} must be an object")
    return value


def _positive_int(section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"host.json: durableTask.{key} must be a positive integer")
    return value


def _resolve_hub_name(value: str, environ: Mapping[str, str]) -> str:
    """``%Name%`` means "the app setting Name", as the extension resolves it.

    Unset (or empty): the dev host uses :data:`UNSET_HUB_SETTING_FALLBACK` and says so; in Azure
    the extension keeps ``%Name%`` and the host refuses it, so the setting must be set there.
    """
    match = re.fullmatch(r"%([^%]+)%", value)
    if not match:
        return value
    resolved = environ.get(match.group(1), "").strip()
    if resolved:
        return resolved
    logger.warning(
        "host.json names the task hub by app setting %s, which is not set: the dev host uses "
        "task hub %s (in Azure the host refuses to start; set %s there)",
        match.group(1),
        UNSET_HUB_SETTING_FALLBACK,
        match.group(1),
    )
    return UNSET_HUB_SETTING_FALLBACK


_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?")


def parse_function_timeout(value: Any) -> dt.timedelta | None:
    """host.json ``functionTimeout``: a TimeSpan (``[d.]hh:mm:ss[.f]``) or ``"-1"`` (unlimited)."""
    if value is None:
        return DEFAULT_FUNCTION_TIMEOUT
    text = str(value).strip()
    if text == "-1":
        return None
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        raise ConfigError(f"host.json: functionTimeout {text!r} is not a TimeSpan (hh:mm:ss) or -1")
    days, hours, minutes, seconds, fraction = match.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        raise ConfigError(f"host.json: functionTimeout {text!r} is not a valid TimeSpan")
    timeout = dt.timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds) + float(f"0.{fraction or 0}"),
    )
    if timeout <= dt.timedelta(0):
        raise ConfigError("host.json: functionTimeout must be positive (or -1 for unlimited)")
    return timeout


# --------------------------------------------------------------------------- local.settings.json
@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str]
    http_port: int | None = None

    @classmethod
    def load(cls, app_dir: Path) -> LocalSettings:
        path = app_dir / "local.settings.json"
        if not path.is_file():
            return cls(values={})
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        if data.get("IsEncrypted"):
            raise ConfigError(f"{path} is encrypted; decrypt it (func settings decrypt) first")
        raw = data.get("Values") or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: Values must be an object")
        values: dict[str, str] = {}
        for key, value in raw.items():
            if value is None:
                continue
            if isinstance(value, (dict, list)):
                raise ConfigError(f"{path}: Values.{key} must be a string, not {type(value)}")
            values[str(key)] = value if isinstance(value, str) else json.dumps(value)
        host = data.get("Host") or {}
        port = host.get("LocalHttpPort") if isinstance(host, dict) else None
        return cls(values=values, http_port=int(port) if isinstance(port, int) else None)

    def apply(self, environ: MutableMapping[str, str]) -> list[str]:
        """Copy values into ``environ`` where not already set; return the names skipped."""
        skipped = []
        for key, value in self.values.items():
            if key in environ:
                skipped.append(key)
            else:
                environ[key] = value
        return skipped


# --------------------------------------------------------------------------- storage connection
@dataclass(frozen=True)
class StorageConnection:
    """An account's table and blob endpoints and how to sign in: the shared key of a connection
    string, or (``account_key`` empty) a managed identity, from the identity-based setting forms
    ``AzureWebJobsStorage__accountName`` / ``__tableServiceUri`` / ``__blobServiceUri`` with
    ``__credential`` and ``__clientId``, as the Functions host reads them."""

    account_name: str
    account_key: str = field(repr=False)
    table_endpoint: str
    blob_endpoint: str
    #: Identity-based: ``managedidentity`` or empty (the developer's login or any identity
    #: ``DefaultAzureCredential`` finds), and the user-assigned identity's client id.
    credential: str = ""
    client_id: str = ""

    @property
    def uses_identity(self) -> bool:
        return not self.account_key

    @property
    def connection_string(self) -> str:
        if self.uses_identity:
            raise ConfigError("an identity-based storage connection has no connection string")
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};TableEndpoint={self.table_endpoint};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    @classmethod
    def parse(cls, text: str) -> StorageConnection:
        parts: dict[str, str] = {}
        for item in text.strip().split(";"):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError("the storage connection string is malformed (expected k=v;...)")
            parts[key.strip().lower()] = value.strip()
        if parts.get("usedevelopmentstorage", "").lower() == "true":
            proxy = parts.get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
            return cls(
                account_name=DEV_ACCOUNT,
                account_key=DEV_KEY,
                table_endpoint=f"{proxy}:10002/{DEV_ACCOUNT}",
                blob_endpoint=f"{proxy}:10000/{DEV_ACCOUNT}",
            )
        name, key = parts.get("accountname", ""), parts.get("accountkey", "")
        if not name or not key:
            raise ConfigError(
                "the storage connection string needs AccountName and AccountKey "
                "(or UseDevelopmentStorage=true)"
            )
        protocol = parts.get("defaultendpointsprotocol", "https")
        suffix = parts.get("endpointsuffix", "core.windows.net")
        return cls(
            account_name=name,
            account_key=key,
            table_endpoint=(
                parts.get("tableendpoint") or f"{protocol}://{name}.table.{suffix}"
            ).rstrip("/"),
            blob_endpoint=(
                parts.get("blobendpoint") or f"{protocol}://{name}.blob.{suffix}"
            ).rstrip("/"),
        )

    @classmethod
    def from_identity_settings(cls, environ: Mapping[str, str]) -> StorageConnection | None:
        """The ``AzureWebJobsStorage__*`` forms; None when none of them is set."""
        prefix = f"{STORAGE_SETTING}__"
        values = {
            key[len(prefix) :].lower(): value.strip()
            for key, value in environ.items()
            if key.startswith(prefix) and value.strip()
        }
        if not values:
            return None
        account = values.get("accountname", "")
        table = values.get("tableserviceuri", "").rstrip("/")
        blob = values.get("blobserviceuri", "").rstrip("/")
        if account and not re.fullmatch(r"[a-z0-9]{3,24}", account):
            raise ConfigError(f"{prefix}accountName must be a storage account name")
        if not account and not table:
            raise ConfigError(
                f"{prefix}accountName (or {prefix}tableServiceUri and {prefix}blobServiceUri) "
                "is required for an identity-based storage connection"
            )
        suffix = values.get("endpointsuffix", "core.windows.net")
        table = table or f"https://{account}.table.{suffix}"
        if not blob and ".table." in table:
            blob = table.replace(".table.", ".blob.")
        if not blob:
            raise ConfigError(f"{prefix}blobServiceUri is required with {prefix}tableServiceUri")
        for name, uri in (("tableServiceUri", table), ("blobServiceUri", blob)):
            if not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", uri):
                raise ConfigError(f"{prefix}{name} must be an https URI (bearer tokens need TLS)")
        credential = values.get("credential", "").lower()
        if credential not in ("", "managedidentity"):
            raise ConfigError(f"{prefix}credential must be 'managedidentity' or empty")
        if not account:
            # https://{account}.table.{suffix}, or an emulator's https://host:port/{account}
            host, _, path = table.removeprefix("https://").partition("/")
            account = path.split("/", 1)[0] if path else host.split(".", 1)[0]
        return cls(
            account_name=account,
            account_key="",
            table_endpoint=table,
            blob_endpoint=blob,
            credential=credential,
            client_id=values.get("clientid", ""),
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> StorageConnection:
        text = environ.get(STORAGE_SETTING)
        if not text:
            identity = cls.from_identity_settings(environ)
            if identity is not None:
                return identity
            raise ConfigError(
                f"{STORAGE_SETTING} is not set: set it in local.settings.json Values or the "
                "environment (UseDevelopmentStorage=true for Azurite's default ports)"
            )
        return cls.parse(text)
