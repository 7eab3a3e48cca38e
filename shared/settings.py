"""The only reader of the environment: one frozen ``Settings`` built by ``Settings.from_env()``.

Locally the values come from ``local.settings.json`` (``Values``), in Azure from app settings.
``local.settings.sample.json`` lists every variable read here with a safe local value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from shared.errors import ConfigurationError

__all__ = ["EmulatorAccountKey", "Settings", "StorageMode"]


class StorageMode(str, Enum):
    """How the service reaches customers' storage accounts."""

    #: Real Azure: the platform's multi-tenant app, token per customer tenant.
    AZURE = "azure"
    #: Azurite: account names and keys from ``EMULATOR_ACCOUNTS``, one local endpoint.
    EMULATOR = "emulator"


@dataclass(frozen=True)
class EmulatorAccountKey:
    name: str
    key: str = field(repr=False)


_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}$")


def _emulator_accounts(raw: str) -> tuple[EmulatorAccountKey, ...]:
    accounts: list[EmulatorAccountKey] = []
    for item in filter(None, (part.strip() for part in raw.split(";"))):
        name, sep, key = item.partition(":")
        if not sep or not _ACCOUNT_RE.match(name) or not key:
            raise ConfigurationError("EMULATOR_ACCOUNTS", "expected 'account:key;account:key'")
        accounts.append(EmulatorAccountKey(name, key))
    return tuple(accounts)


def _tenant(raw: str) -> str:
    value = raw.strip() or "organizations"
    if not re.match(r"^[A-Za-z0-9.-]{1,100}$", value):
        raise ConfigurationError("PLATFORM_APP_TENANT_ID", "must be a tenant id or domain")
    return value


_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
#: Stands in for the platform's app id in emulator mode, where no app is involved.
EMULATOR_APP_ID = "00000000-0000-0000-0000-000000000000"


def _app_id(raw: str, mode: StorageMode) -> str:
    value = raw.strip()
    if not value:
        if mode is StorageMode.EMULATOR:
            return EMULATOR_APP_ID
        raise ConfigurationError("PLATFORM_APP_CLIENT_ID", "is required in azure mode")
    if not _GUID.match(value):
        raise ConfigurationError("PLATFORM_APP_CLIENT_ID", "must be an application (client) id")
    return value.lower()


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(name, "must be an integer") from None
    if not lo <= value <= hi:
        raise ConfigurationError(name, f"must be between {lo} and {hi}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, validated once."""

    #: Connection string of the platform's metadata store (Azure Tables); falls back to
    #: ``AzureWebJobsStorage`` when unset. Kept out of repr: it may hold an account key.
    metadata_connection: str = field(repr=False)
    #: Table endpoint used with a managed identity when no connection string is given.
    metadata_table_endpoint: str
    storage_mode: StorageMode
    #: Blob endpoint suffix in Azure mode: ``https://{account}.blob.{suffix}``.
    storage_endpoint_suffix: str
    #: Azurite's blob endpoint root in emulator mode: ``{root}/{account}``.
    emulator_blob_endpoint: str
    emulator_accounts: tuple[EmulatorAccountKey, ...] = field(repr=False)
    #: The platform's multi-tenant app registration (Azure mode).
    platform_app_id: str
    platform_app_name: str
    platform_app_secret: str = field(repr=False)
    platform_app_certificate_path: str
    platform_origin: str
    data_rows_per_image: int
    data_rows_per_video: int
    default_monthly_quota: int
    sync_page_size: int
    sync_batch_size: int
    sync_read_concurrency: int
    sync_pages_per_execution: int
    sync_batches_in_flight: int
    preview_max_blobs: int
    #: Honour the standard proxy variables for calls to customers' storage. Off when none is set,
    #: which also spares aiohttp a proxy and ``.netrc`` lookup on every request.
    use_env_proxies: bool = False
    #: The platform app's home tenant (Azure mode). Tokens are always requested for the
    #: customer's tenant discovered from the storage bearer challenge; this is only the default.
    platform_app_tenant_id: str = "organizations"
    #: Seconds a preview may spend listing before it answers "at least N" (the HTTP limit is 230).
    preview_time_budget_seconds: int = 60
    #: Seconds of continuous storage or metadata-store failure a sync run waits out (durable
    #: timers, growing backoff from ``sync_outage_first_delay_seconds`` up to a minute) before
    #: it fails with a clear code.
    sync_outage_limit_seconds: int = 900
    sync_outage_first_delay_seconds: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode_raw = env.get("CUSTOMER_STORAGE_MODE", "azure").strip().lower()
        try:
            mode = StorageMode(mode_raw)
        except ValueError:
            raise ConfigurationError(
                "CUSTOMER_STORAGE_MODE", "must be 'azure' or 'emulator'"
            ) from None
        metadata = (
            env.get("METADATA_STORAGE_CONNECTION", "").strip()
            or env.get("AzureWebJobsStorage", "").strip()
        )
        endpoint = env.get("METADATA_TABLE_ENDPOINT", "").strip()
        if not metadata and not endpoint:
            raise ConfigurationError(
                "METADATA_STORAGE_CONNECTION",
                "set a connection string (or METADATA_TABLE_ENDPOINT with a managed identity)",
            )
        origin = env.get("PLATFORM_ORIGIN", "https://vi.datature.com").strip().rstrip("/")
        if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d+)?$", origin):
            raise ConfigurationError("PLATFORM_ORIGIN", "must be a scheme and host, no path")
        suffix = env.get("STORAGE_ENDPOINT_SUFFIX", "core.windows.net").strip().lstrip(".")
        if not re.match(r"^[a-z0-9.-]+\.[a-z]{2,}$", suffix):
            raise ConfigurationError("STORAGE_ENDPOINT_SUFFIX", "must be a DNS suffix")
        emulator_root = env.get("EMULATOR_BLOB_ENDPOINT", "http://127.0.0.1:10000").strip()
        accounts = _emulator_accounts(env.get("EMULATOR_ACCOUNTS", ""))
        if mode is StorageMode.EMULATOR and not accounts:
            raise ConfigurationError(
                "EMULATOR_ACCOUNTS", "emulator mode needs at least one account"
            )
        proxies = (
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "https_proxy",
            "http_proxy",
            "all_proxy",
        )
        return cls(
            use_env_proxies=any(env.get(name) for name in proxies),
            metadata_connection=metadata,
            metadata_table_endpoint=endpoint,
            storage_mode=mode,
            storage_endpoint_suffix=suffix,
            emulator_blob_endpoint=emulator_root.rstrip("/"),
            emulator_accounts=accounts,
            platform_app_id=_app_id(env.get("PLATFORM_APP_CLIENT_ID", ""), mode),
            platform_app_name=env.get("PLATFORM_APP_NAME", "Datature Vi").strip(),
            platform_app_secret=env.get("PLATFORM_APP_CLIENT_SECRET", ""),
            platform_app_certificate_path=env.get("PLATFORM_APP_CERTIFICATE_PATH", "").strip(),
            platform_origin=origin,
            data_rows_per_image=_int(env, "DATA_ROWS_PER_IMAGE", 5, 0, 1000),
            data_rows_per_video=_int(env, "DATA_ROWS_PER_VIDEO", 5, 0, 1000),
            default_monthly_quota=_int(env, "DEFAULT_MONTHLY_QUOTA", 100_000, 0, 10**12),
            sync_page_size=_int(env, "SYNC_PAGE_SIZE", 5000, 1, 5000),
            sync_batch_size=_int(env, "SYNC_BATCH_SIZE", 500, 1, 5000),
            sync_read_concurrency=_int(env, "SYNC_READ_CONCURRENCY", 16, 1, 256),
            sync_pages_per_execution=_int(env, "SYNC_PAGES_PER_EXECUTION", 2, 1, 50),
            sync_batches_in_flight=_int(env, "SYNC_BATCHES_IN_FLIGHT", 4, 1, 64),
            preview_max_blobs=_int(env, "PREVIEW_MAX_BLOBS", 50_000, 100, 10**7),
            platform_app_tenant_id=_tenant(env.get("PLATFORM_APP_TENANT_ID", "")),
            preview_time_budget_seconds=_int(env, "PREVIEW_TIME_BUDGET_SECONDS", 60, 1, 200),
            sync_outage_limit_seconds=_int(env, "SYNC_OUTAGE_LIMIT_SECONDS", 900, 0, 86_400),
            sync_outage_first_delay_seconds=_int(env, "SYNC_OUTAGE_RETRY_SECONDS", 5, 1, 300),
        )

    def emulator_key(self, account: str) -> str | None:
        for item in self.emulator_accounts:
            if item.name == account:
                return item.key
        return None
