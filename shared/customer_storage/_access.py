"""``CustomerStorage``: the one way the service reaches a customer's blobs (read-only).

The only endpoints ever called are built here from a validated account name:
``https://{account}.blob.{suffix}`` in Azure mode, ``{emulator root}/{account}`` in emulator
mode. Container names are validated too, and blob names only ever become URL-quoted path
segments; nothing a caller supplies can choose a host.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.exceptions import AzureError
from azure.core.pipeline import AsyncPipeline
from azure.core.pipeline.transport import AioHttpTransport, AsyncHttpTransport
from azure.core.rest import HttpRequest
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from shared.customer_storage._credentials import (
    STORAGE_SCOPE,
    PlatformIdentity,
    TenantPinnedCredential,
    tenant_from_challenge,
)
from shared.customer_storage._errors import (
    StorageFailure,
    StorageFault,
    classify_error,
    classify_http,
)
from shared.customer_storage._pipeline import (
    MissingAccountTransport,
    Policy,
    RetryProfile,
    compose_transport,
    retry_policy,
    timeouts,
)
from shared.naming import require_container, require_storage_account
from shared.settings import Settings, StorageMode

__all__ = ["AccountProbe", "CustomerStorage", "PreflightResult"]

_log = logging.getLogger(__name__)
for _noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

#: API version for the hand-built probe and preflight requests: new enough for bearer
#: challenges (2019-12-12+), old enough for any Azurite.
_PROBE_API_VERSION = "2021-12-02"
_TENANT_TTL_SECONDS = 3600.0


@dataclass(frozen=True)
class AccountProbe:
    """What an anonymous request to the account's blob endpoint revealed."""

    account: str
    #: True: the account answered. False: it does not exist. None: could not tell (network).
    exists: bool | None
    #: The customer's tenant, from the bearer challenge (Azure mode).
    tenant_id: str | None = None
    status: int | None = None
    error_code: str | None = None
    #: Set when the answer (or its absence) points at a problem: missing, disabled, firewall.
    failure: StorageFailure | None = None


@dataclass(frozen=True)
class PreflightResult:
    """A CORS preflight as a browser on the platform's origin would send it."""

    allowed: bool
    status: int | None = None
    allow_origin: str | None = None
    allow_methods: str | None = None
    error_code: str | None = None
    failure: StorageFailure | None = None


class CustomerStorage:
    """Factory of read-only ``azure.storage.blob.aio`` clients for customers' storage accounts,
    and the anonymous probe and CORS preflight; one per process is enough (its clients may be
    built on any event loop).

    ``transport`` (an azure-core ``AsyncHttpTransport``) replaces the HTTP transport (fault
    injection in tests); ``per_call_policies`` run on every attempt right before it. The
    factories take the same keywords to override them per client. A transport passed in is
    shared and never closed by the clients built on it. ``credential`` replaces the platform
    app's per-tenant credentials with one asked for ``tenant_id=`` (not closed here).
    ``close()`` closes the per-tenant credentials.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: AsyncHttpTransport | None = None,  # type: ignore[type-arg]
        per_call_policies: Sequence[Policy] = (),
        credential: TokenCredential | None = None,
        profile: RetryProfile = RetryProfile.BACKGROUND,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._policies = tuple(per_call_policies)
        self._identity = PlatformIdentity(settings, credential)
        self._profile = profile
        self._lock = threading.Lock()
        self._tenants: dict[str, tuple[str, float]] = {}

    # -- names and endpoints -------------------------------------------------------------------
    @property
    def emulator(self) -> bool:
        return self._settings.storage_mode is StorageMode.EMULATOR

    def account_url(self, account: str) -> str:
        """The blob endpoint of ``account``, built only from a validated name."""
        require_storage_account(account)
        if self.emulator:
            return f"{self._settings.emulator_blob_endpoint}/{account}"
        if self._settings.storage_blob_endpoint:
            return self._settings.storage_blob_endpoint.replace("{account}", account)
        return f"https://{account}.blob.{self._settings.storage_endpoint_suffix}"

    def knows_account(self, account: str) -> bool:
        """False for an account the emulator is not configured to serve (Azure: always True)."""
        return not self.emulator or self._settings.emulator_key(account) is not None

    def blob_url(self, account: str, container: str, blob: str = "") -> str:
        require_container(container)
        url = f"{self.account_url(account)}/{container}"
        return f"{url}/{quote(blob, safe='/')}" if blob else url

    # -- credentials ---------------------------------------------------------------------------
    @property
    def identity(self) -> PlatformIdentity:
        """The platform app's credentials, one per customer tenant."""
        return self._identity

    def close(self) -> None:
        """Close the credentials built so far (clients close their own transports)."""
        self._identity.close()

    def __enter__(self) -> CustomerStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _key_credential(self, account: str) -> AzureNamedKeyCredential | None:
        key = self._settings.emulator_key(account)
        return AzureNamedKeyCredential(account, key) if key else None

    async def tenant_of(self, account: str) -> str | None:
        """The customer's tenant (Azure mode), discovered from the bearer challenge and cached
        for an hour; None when the account gave no challenge."""
        if self.emulator:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._tenants.get(account)
        if cached and cached[1] > now:
            return cached[0]
        return (await self.probe_account(account)).tenant_id

    def _remember_tenant(self, account: str, tenant: str) -> None:
        with self._lock:
            self._tenants[account] = (tenant, time.monotonic() + _TENANT_TTL_SECONDS)

    async def request_token(self, tenant_id: str) -> datetime:
        """Get a storage token in ``tenant_id`` (Azure mode) and return its expiry; the token
        itself never leaves this object. Raises ``TokenRequestError``."""
        token = await TenantPinnedCredential(self._identity, tenant_id).get_token(STORAGE_SCOPE)
        return datetime.fromtimestamp(token.expires_on, UTC)

    # -- transports and clients ----------------------------------------------------------------
    def _transport_for(
        self,
        account: str,
        profile: RetryProfile,
        transport: AsyncHttpTransport | None,  # type: ignore[type-arg]
        policies: Sequence[Policy] | None,
    ) -> AsyncHttpTransport:  # type: ignore[type-arg]
        """The policies in front of the transport under them: a stand-in that fails every
        request for an account the emulator does not serve, else the one passed in (shared,
        never closed), else a new aiohttp transport with the profile's timeouts (owned by the
        client)."""
        policies = self._policies if policies is None else tuple(policies)
        if not self.knows_account(account):
            return compose_transport(MissingAccountTransport(), policies, owns=True)
        chosen = transport or self._transport
        if chosen is not None:
            return compose_transport(chosen, policies, owns=False)
        options: dict[str, Any] = dict(timeouts(profile))
        if self._settings.tls_ca_bundle and not self.emulator:
            options["connection_verify"] = self._settings.tls_ca_bundle
        fresh = AioHttpTransport(use_env_settings=self._settings.use_env_proxies, **options)
        return compose_transport(fresh, policies, owns=True)

    def _client_options(
        self,
        account: str,
        profile: RetryProfile | None,
        transport: AsyncHttpTransport | None,  # type: ignore[type-arg]
        policies: Sequence[Policy] | None,
    ) -> dict[str, Any]:
        """Credential, transport and retry policy of a client: the account's key (emulator
        mode), else the platform credential pinned to the account's tenant."""
        profile = profile or self._profile
        credential: Any = (
            self._key_credential(account)
            if self.emulator
            else TenantPinnedCredential(self._identity, lambda: self.tenant_of(account))
        )
        return {
            "credential": credential,
            "transport": self._transport_for(account, profile, transport, policies),
            "retry_policy": retry_policy(profile),
        }

    def service_client(
        self,
        account: str,
        *,
        profile: RetryProfile | None = None,
        transport: AsyncHttpTransport | None = None,  # type: ignore[type-arg]
        per_call_policies: Sequence[Policy] | None = None,
    ) -> BlobServiceClient:
        """An ``azure.storage.blob.aio`` service client (use ``async with``)."""
        return BlobServiceClient(
            self.account_url(account),
            **self._client_options(account, profile, transport, per_call_policies),
        )

    def container_client(
        self,
        account: str,
        container: str,
        *,
        profile: RetryProfile | None = None,
        transport: AsyncHttpTransport | None = None,  # type: ignore[type-arg]
        per_call_policies: Sequence[Policy] | None = None,
    ) -> ContainerClient:
        """An ``azure.storage.blob.aio`` container client (use ``async with``); one client
        serves many concurrent reads."""
        require_container(container)
        return ContainerClient(
            self.account_url(account),
            container,
            **self._client_options(account, profile, transport, per_call_policies),
        )

    # -- anonymous requests: probe and CORS preflight ------------------------------------------
    async def _send_anonymous(
        self,
        account: str,
        request: HttpRequest,
        transport: AsyncHttpTransport | None,  # type: ignore[type-arg]
        policies: Sequence[Policy] | None,
    ) -> Any:
        chosen = self._transport_for(account, RetryProfile.INTERACTIVE, transport, policies)
        async with AsyncPipeline(transport=chosen, policies=[]) as pipeline:
            return (await pipeline.run(request)).http_response

    async def probe_account(
        self,
        account: str,
        *,
        transport: AsyncHttpTransport | None = None,  # type: ignore[type-arg]
        per_call_policies: Sequence[Policy] | None = None,
    ) -> AccountProbe:
        """One anonymous request to the account: does it exist, and which tenant owns it.

        Azure answers an existing account with 401 and a bearer challenge naming the tenant (or
        403 when its firewall refuses us); a missing account's host name does not resolve.
        """
        request = HttpRequest(
            "GET",
            f"{self.account_url(account)}/?comp=list&maxresults=1",
            headers={"x-ms-version": _PROBE_API_VERSION},
        )
        try:
            response = await self._send_anonymous(account, request, transport, per_call_policies)
        except AzureError as exc:
            refused = classify_error(exc, emulator=self.emulator)
            exists = False if refused.fault is StorageFault.ACCOUNT_NOT_FOUND else None
            _log.info("probe of account %s failed: %s", account, refused.fault.value)
            return AccountProbe(account, exists, failure=refused)
        status = int(response.status_code)
        code = response.headers.get("x-ms-error-code")
        tenant = tenant_from_challenge(response.headers.get("WWW-Authenticate"))
        if tenant:
            self._remember_tenant(account, tenant)
        fault = classify_http(status, code, emulator=self.emulator) if status >= 400 else None
        if fault is StorageFault.ACCOUNT_NOT_FOUND:
            return AccountProbe(
                account, False, None, status, code, StorageFailure(fault, status, code)
            )
        keep = {StorageFault.ACCOUNT_DISABLED, StorageFault.NETWORK_RULES, StorageFault.THROTTLED}
        if self.emulator and fault is StorageFault.NETWORK_RULES:
            fault = None  # Azurite answers every anonymous request with AuthorizationFailure
        failure = StorageFailure(fault, status, code) if fault in keep and fault else None
        return AccountProbe(account, True, tenant, status, code, failure)

    async def preflight(
        self,
        account: str,
        container: str,
        blob: str,
        *,
        origin: str,
        method: str = "GET",
        transport: AsyncHttpTransport | None = None,  # type: ignore[type-arg]
        per_call_policies: Sequence[Policy] | None = None,
    ) -> PreflightResult:
        """Send the CORS preflight a browser on ``origin`` sends before reading ``blob``."""
        request = HttpRequest(
            "OPTIONS",
            self.blob_url(account, container, blob or "cors-probe"),
            headers={"Origin": origin, "Access-Control-Request-Method": method},
        )
        try:
            response = await self._send_anonymous(account, request, transport, per_call_policies)
        except AzureError as exc:
            return PreflightResult(False, failure=classify_error(exc, emulator=self.emulator))
        status = int(response.status_code)
        allow_origin = response.headers.get("Access-Control-Allow-Origin")
        allow_methods = response.headers.get("Access-Control-Allow-Methods")
        methods = {m.strip().upper() for m in (allow_methods or "").split(",")}
        allowed = (
            200 <= status < 300
            and allow_origin in (origin, "*")
            and (not allow_methods or method in methods or "*" in methods)
        )
        return PreflightResult(
            allowed,
            status,
            allow_origin,
            allow_methods,
            response.headers.get("x-ms-error-code"),
        )
