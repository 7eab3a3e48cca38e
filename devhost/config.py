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
from dataclasses import dataclass
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
    """An account's table and blob endpoints and shared key, from a connection string."""

    account_name: str
    account_key: str
    table_endpoint: str
    blob_endpoint: str

    @property
    def connection_string(self) -> str:
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
    def from_environment(cls, environ: Mapping[str, str]) -> StorageConnection:
        text = environ.get(STORAGE_SETTING)
        if not text:
            raise ConfigError(
                f"{STORAGE_SETTING} is not set: set it in local.settings.json Values or the "
                "environment (UseDevelopmentStorage=true for Azurite's default ports)"
            )
        return cls.parse(text)
