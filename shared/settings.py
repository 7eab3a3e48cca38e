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

__all__ = ["CredentialKind", "EmulatorAccountKey", "Settings", "StorageMode"]


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


#: Authorities MSAL cannot use for the client-credentials flow of a multi-tenant app.
_NOT_A_TENANT = {"organizations", "common", "consumers"}


def _tenant(raw: str, mode: StorageMode) -> str:
    """The platform app's home tenant: a tenant id or verified domain (required in azure mode;
    tokens are still requested in each customer's tenant)."""
    value = raw.strip()
    if not value:
        if mode is StorageMode.AZURE:
            raise ConfigurationError(
                "PLATFORM_APP_TENANT_ID", "is required in azure mode (the app's home tenant id)"
            )
        return ""
    if value.lower() in _NOT_A_TENANT:
        raise ConfigurationError(
            "PLATFORM_APP_TENANT_ID",
            f"'{value}' is not a tenant; give the home tenant's id (client credentials need one)",
        )
    if not re.match(r"^[A-Za-z0-9.-]{1,100}$", value):
        raise ConfigurationError("PLATFORM_APP_TENANT_ID", "must be a tenant id or domain")
    return value


class CredentialKind(str, Enum):
    """How the platform app proves its identity to Microsoft Entra ID (Azure mode)."""

    SECRET = "secret"  # noqa: S105 - a kind name
    CERTIFICATE = "certificate"
    #: Secretless: the function app's managed identity is a federated credential of the app
    #: registration; its token is the app's client assertion.
    MANAGED_IDENTITY = "managed_identity"


def _credential_kind(env: Mapping[str, str], mode: StorageMode) -> CredentialKind | None:
    given = {
        CredentialKind.SECRET: bool(env.get("PLATFORM_APP_CLIENT_SECRET", "")),
        CredentialKind.CERTIFICATE: bool(
            env.get("PLATFORM_APP_CERTIFICATE_PATH", "").strip()
            or env.get("PLATFORM_APP_CERTIFICATE", "").strip()
        ),
        CredentialKind.MANAGED_IDENTITY: bool(env.get("PLATFORM_APP_MANAGED_IDENTITY", "").strip()),
    }
    if (
        env.get("PLATFORM_APP_CERTIFICATE_PATH", "").strip()
        and env.get("PLATFORM_APP_CERTIFICATE", "").strip()
    ):
        raise ConfigurationError(
            "PLATFORM_APP_CERTIFICATE", "set it or PLATFORM_APP_CERTIFICATE_PATH, not both"
        )
    chosen = [kind for kind, present in given.items() if present]
    if len(chosen) > 1:
        raise ConfigurationError(
            "PLATFORM_APP_CLIENT_SECRET",
            "set exactly one of PLATFORM_APP_CLIENT_SECRET, PLATFORM_APP_CERTIFICATE(_PATH) "
            "and PLATFORM_APP_MANAGED_IDENTITY",
        )
    if not chosen:
        if mode is StorageMode.AZURE:
            raise ConfigurationError(
                "PLATFORM_APP_CLIENT_SECRET",
                "azure mode needs PLATFORM_APP_CLIENT_SECRET, PLATFORM_APP_CERTIFICATE(_PATH) "
                "or PLATFORM_APP_MANAGED_IDENTITY",
            )
        return None
    return chosen[0]


def _managed_identity(raw: str) -> str:
    value = raw.strip()
    if value and value.lower() != "system" and not _GUID.match(value):
        raise ConfigurationError(
            "PLATFORM_APP_MANAGED_IDENTITY",
            "must be 'system' or the client id of a user-assigned managed identity",
        )
    return value.lower()


def _authority(raw: str) -> str:
    value = raw.strip().rstrip("/") or "https://login.microsoftonline.com"
    if "://" not in value:
        value = "https://" + value
    if not re.match(r"^https://[A-Za-z0-9.-]+(:\d+)?$", value):
        raise ConfigurationError(
            "PLATFORM_APP_AUTHORITY_HOST", "must be an https host, e.g. login.microsoftonline.com"
        )
    return value


def _blob_endpoint(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and (
        value.count("{account}") != 1
        or not re.match(r"^https://[A-Za-z0-9.{}-]+(:\d+)?(/[A-Za-z0-9{}._-]*)*$", value)
    ):
        raise ConfigurationError(
            "STORAGE_BLOB_ENDPOINT",
            "must be an https URL template holding {account} once, "
            "e.g. https://{account}.blob.core.windows.net",
        )
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
class _MetadataStore:
    connection: str = field(repr=False)
    table_uri: str = ""
    blob_uri: str = ""
    credential: str = ""
    client_id: str = ""


_HTTPS_URI = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._-]*)?/?$")


def _metadata_store(env: Mapping[str, str], suffix: str) -> _MetadataStore:
    """A connection string (``METADATA_STORAGE_CONNECTION``, else one in ``AzureWebJobsStorage``)
    or the identity-based form ``METADATA_STORAGE__accountName`` / ``__tableServiceUri`` /
    ``__blobServiceUri`` with ``__credential`` and ``__clientId`` (as Functions names them)."""
    connection = env.get("METADATA_STORAGE_CONNECTION", "").strip()
    if connection:
        return _MetadataStore(connection)
    account = env.get("METADATA_STORAGE__accountName", "").strip()
    if account and not _ACCOUNT_RE.match(account):
        raise ConfigurationError("METADATA_STORAGE__accountName", "must be a storage account name")
    table = env.get("METADATA_STORAGE__tableServiceUri", "").strip().rstrip("/")
    blob = env.get("METADATA_STORAGE__blobServiceUri", "").strip().rstrip("/")
    if account:
        table = table or f"https://{account}.table.{suffix}"
        blob = blob or f"https://{account}.blob.{suffix}"
    if table and not blob and ".table." in table:
        blob = table.replace(".table.", ".blob.")
    if table or blob:
        for name, value in (("tableServiceUri", table), ("blobServiceUri", blob)):
            if not _HTTPS_URI.match(value):
                raise ConfigurationError(f"METADATA_STORAGE__{name}", "must be a service URI")
        credential = env.get("METADATA_STORAGE__credential", "").strip().lower()
        if credential not in ("", "managedidentity"):
            raise ConfigurationError(
                "METADATA_STORAGE__credential", "must be 'managedidentity' or empty"
            )
        client_id = env.get("METADATA_STORAGE__clientId", "").strip()
        if client_id and not _GUID.match(client_id):
            raise ConfigurationError("METADATA_STORAGE__clientId", "must be a client id")
        return _MetadataStore("", table, blob, credential, client_id)
    web_jobs = env.get("AzureWebJobsStorage", "").strip()
    if web_jobs:
        return _MetadataStore(web_jobs)
    raise ConfigurationError(
        "METADATA_STORAGE_CONNECTION",
        "set a connection string, or METADATA_STORAGE__accountName with a managed identity",
    )


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, validated once."""

    #: Connection string of the platform's metadata store (Azurite); falls back to a connection
    #: string in ``AzureWebJobsStorage``. Kept out of repr: it may hold an account key.
    metadata_connection: str = field(repr=False)
    #: Identity-based access (``METADATA_STORAGE__*``): the account's table and blob endpoints.
    metadata_table_uri: str
    metadata_blob_uri: str
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
    #: Certificate credential: a PEM/PFX file, or its content (PEM text or base64 PFX, e.g. a
    #: Key Vault reference), with an optional password.
    platform_app_certificate_path: str
    platform_origin: str
    data_rows_per_image: int
    data_rows_per_video: int
    default_monthly_quota: int
    sync_page_size: int
    sync_list_width: int
    sync_batch_size: int
    sync_read_concurrency: int
    sync_pages_per_execution: int
    sync_batches_in_flight: int
    preview_max_blobs: int
    #: Honour the standard proxy variables for calls to customers' storage. Off when none is set,
    #: which also spares aiohttp a proxy and ``.netrc`` lookup on every request.
    use_env_proxies: bool = False
    #: The platform app's home tenant (required in Azure mode). Tokens are always requested in
    #: the customer's tenant discovered from the storage bearer challenge.
    platform_app_tenant_id: str = ""
    platform_app_certificate: str = field(default="", repr=False)
    platform_app_certificate_password: str = field(default="", repr=False)
    #: Secretless mode: ``system`` or a user-assigned identity's client id.
    platform_app_managed_identity: str = ""
    #: Which of the above the app uses (None in emulator mode when none is set).
    platform_app_credential: CredentialKind | None = None
    #: Microsoft Entra ID authority host (another cloud, or a local test authority).
    platform_app_authority_host: str = "https://login.microsoftonline.com"
    #: Blob endpoint template in Azure mode (``{account}`` once); empty: from the suffix.
    storage_blob_endpoint: str = ""
    #: PEM bundle of CA certificates trusted (instead of the system's) for calls to Entra ID
    #: and customers' storage; empty: the system's trust store.
    tls_ca_bundle: str = ""
    #: Seconds a preview may spend listing before it answers "at least N" (the HTTP limit is 230).
    preview_time_budget_seconds: int = 60
    #: ``managedidentity`` (the app's identity) or empty (``DefaultAzureCredential``).
    metadata_credential: str = ""
    #: Client id of a user-assigned managed identity for the metadata store.
    metadata_client_id: str = ""
    #: Seconds of continuous storage or metadata-store failure a sync run waits out (durable
    #: timers, growing backoff from ``sync_outage_first_delay_seconds`` up to a minute) before
    #: it fails with a clear code.
    sync_outage_limit_seconds: int = 900
    sync_outage_first_delay_seconds: int = 5
    #: Shortest schedule interval in seconds (``AUTOSYNC_MIN_INTERVAL_SECONDS``; tests lower it).
    autosync_min_interval_seconds: int = 3600
    #: Allow run-end webhooks to loopback ``http://`` URLs (tests only).
    webhook_allow_loopback: bool = False
    #: Delivery attempts of a run-end webhook, and the first backoff delay (doubling).
    webhook_max_attempts: int = 6
    webhook_retry_base_seconds: int = 30

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
        suffix = env.get("STORAGE_ENDPOINT_SUFFIX", "core.windows.net").strip().lstrip(".")
        if not re.match(r"^[a-z0-9.-]+\.[a-z]{2,}$", suffix):
            raise ConfigurationError("STORAGE_ENDPOINT_SUFFIX", "must be a DNS suffix")
        metadata = _metadata_store(env, suffix)
        origin = env.get("PLATFORM_ORIGIN", "https://vi.datature.com").strip().rstrip("/")
        if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d+)?$", origin):
            raise ConfigurationError("PLATFORM_ORIGIN", "must be a scheme and host, no path")
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
            metadata_connection=metadata.connection,
            metadata_table_uri=metadata.table_uri,
            metadata_blob_uri=metadata.blob_uri,
            metadata_credential=metadata.credential,
            metadata_client_id=metadata.client_id,
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
            sync_list_width=_int(env, "SYNC_LIST_WIDTH", 8, 1, 32),
            sync_batch_size=_int(env, "SYNC_BATCH_SIZE", 500, 1, 5000),
            sync_read_concurrency=_int(env, "SYNC_READ_CONCURRENCY", 16, 1, 256),
            sync_pages_per_execution=_int(env, "SYNC_PAGES_PER_EXECUTION", 2, 1, 50),
            sync_batches_in_flight=_int(env, "SYNC_BATCHES_IN_FLIGHT", 4, 1, 64),
            preview_max_blobs=_int(env, "PREVIEW_MAX_BLOBS", 50_000, 100, 10**7),
            platform_app_tenant_id=_tenant(env.get("PLATFORM_APP_TENANT_ID", ""), mode),
            platform_app_certificate=env.get("PLATFORM_APP_CERTIFICATE", "").strip(),
            platform_app_certificate_password=env.get("PLATFORM_APP_CERTIFICATE_PASSWORD", ""),
            platform_app_managed_identity=_managed_identity(
                env.get("PLATFORM_APP_MANAGED_IDENTITY", "")
            ),
            platform_app_credential=_credential_kind(env, mode),
            platform_app_authority_host=_authority(env.get("PLATFORM_APP_AUTHORITY_HOST", "")),
            storage_blob_endpoint=_blob_endpoint(env.get("STORAGE_BLOB_ENDPOINT", "")),
            tls_ca_bundle=env.get("TLS_CA_BUNDLE", "").strip(),
            preview_time_budget_seconds=_int(env, "PREVIEW_TIME_BUDGET_SECONDS", 60, 1, 200),
            sync_outage_limit_seconds=_int(env, "SYNC_OUTAGE_LIMIT_SECONDS", 900, 0, 86_400),
            sync_outage_first_delay_seconds=_int(env, "SYNC_OUTAGE_RETRY_SECONDS", 5, 1, 300),
            autosync_min_interval_seconds=_int(
                env, "AUTOSYNC_MIN_INTERVAL_SECONDS", 3600, 1, 86400
            ),
            webhook_allow_loopback=env.get("WEBHOOK_ALLOW_LOOPBACK", "").strip().lower()
            in ("1", "true", "yes"),
            webhook_max_attempts=_int(env, "WEBHOOK_MAX_ATTEMPTS", 6, 1, 20),
            webhook_retry_base_seconds=_int(env, "WEBHOOK_RETRY_BASE_SECONDS", 30, 1, 3600),
        )

    def emulator_key(self, account: str) -> str | None:
        for item in self.emulator_accounts:
            if item.name == account:
                return item.key
        return None
