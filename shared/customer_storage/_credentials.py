"""The platform's multi-tenant identity: one credential per customer tenant, pinned per client.

The Blob SDK's bearer policy already follows a storage challenge (401 + ``WWW-Authenticate:
Bearer authorization_uri=https://login.microsoftonline.com/<tenant>/oauth2/authorize``) and asks
the credential for a token in that tenant, but only after a first request has failed with a
token from the app's home tenant. We discover the tenant once per account (an anonymous request
answers with the challenge) and pin it, so every request carries the right token first time;
the SDK's challenge handling stays as the fallback when a tenant changes.

``PlatformIdentity`` keeps one azure-identity credential per tenant (its home tenant is the
customer's, so no ``additionally_allowed_tenants`` wildcard is needed) and closes them with
``close()``. A tenant whose token request Entra ID refused gets a fresh credential next time: MSAL
remembers an HTTP 400 answer for 60 seconds, which would otherwise hide a fix the customer just
made (``az ad sp create``) from the next test.

Credentials (``Settings.platform_app_credential``):

- ``secret``: ``ClientSecretCredential``;
- ``certificate``: ``CertificateCredential`` from a PEM/PFX file or from its content (PEM text,
  or a base64 PFX such as a Key Vault certificate reference), with an optional password;
- ``managed_identity`` (secretless): the function app's managed identity is a federated
  credential of the app registration; its token for ``api://AzureADTokenExchange`` is the
  client assertion of a ``ClientAssertionCredential``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from shared.customer_storage._errors import TokenRequestError, aad_code_of
from shared.customer_storage._pipeline import AsyncInert
from shared.errors import ConfigurationError
from shared.settings import CredentialKind, Settings

__all__ = [
    "STORAGE_SCOPE",
    "TOKEN_EXCHANGE_SCOPE",
    "PlatformIdentity",
    "TenantPinnedCredential",
    "TenantSource",
    "tenant_from_challenge",
]

STORAGE_SCOPE = "https://storage.azure.com/.default"
#: The audience of a managed identity's token used as a federated client assertion.
TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"  # noqa: S105 - a scope
#: Authority hosts azure-identity knows (instance discovery is skipped for any other host).
_KNOWN_AUTHORITIES = {
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
}
_TENANT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_AUTH_URI = re.compile(r"authorization_uri=\"?https://[^/\s\",]+/([^/\s\",]+)", re.IGNORECASE)


def tenant_from_challenge(header: str | None) -> str | None:
    """The tenant id in a storage ``WWW-Authenticate: Bearer authorization_uri=...`` challenge;
    None when the header is absent or does not name a tenant id (a GUID)."""
    if not header or not header.strip().lower().startswith("bearer"):
        return None
    match = _AUTH_URI.search(header)
    if not match or not _TENANT.fullmatch(match.group(1)):
        return None
    return match.group(1).lower()


def _certificate_data(settings: Settings) -> bytes:
    """PEM text as is; anything else is a base64 PFX (how Key Vault hands out certificates)."""
    raw = settings.platform_app_certificate
    if raw.startswith("-----BEGIN"):
        return raw.replace("\\n", "\n").encode()
    try:
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "PLATFORM_APP_CERTIFICATE", "must be PEM text or a base64-encoded PFX"
        ) from None


class PlatformIdentity:
    """The platform app's credentials, one per customer tenant, built on first use.

    ``fixed`` replaces them all with one credential asked for ``tenant_id=`` each time (tests
    and custom hosting); it is not closed here."""

    def __init__(self, settings: Settings, fixed: TokenCredential | None = None) -> None:
        self._settings = settings
        self._fixed = fixed
        self._lock = threading.Lock()
        self._by_tenant: dict[str, TokenCredential] = {}
        self._assertion_source: TokenCredential | None = None

    def _options(self) -> dict[str, Any]:
        settings = self._settings
        options: dict[str, Any] = {"authority": settings.platform_app_authority_host}
        if urlsplit(settings.platform_app_authority_host).hostname not in _KNOWN_AUTHORITIES:
            options["disable_instance_discovery"] = True
        if settings.tls_ca_bundle:
            options["connection_verify"] = settings.tls_ca_bundle
        return options

    def _managed_identity(self) -> TokenCredential:
        from azure.identity import ManagedIdentityCredential

        if self._assertion_source is None:
            chosen = self._settings.platform_app_managed_identity
            kwargs: dict[str, Any] = {}
            if chosen != "system":
                kwargs["client_id"] = chosen
            if self._settings.tls_ca_bundle:
                kwargs["connection_verify"] = self._settings.tls_ca_bundle
            self._assertion_source = ManagedIdentityCredential(**kwargs)
        return self._assertion_source

    def _build(self, tenant: str) -> TokenCredential:
        from azure.identity import (
            CertificateCredential,
            ClientAssertionCredential,
            ClientSecretCredential,
        )

        settings = self._settings
        app = settings.platform_app_id
        options = self._options()
        kind = settings.platform_app_credential
        if kind is CredentialKind.SECRET:
            return ClientSecretCredential(tenant, app, settings.platform_app_secret, **options)
        if kind is CredentialKind.CERTIFICATE:
            password = settings.platform_app_certificate_password or None
            if settings.platform_app_certificate_path:
                return CertificateCredential(
                    tenant,
                    app,
                    certificate_path=settings.platform_app_certificate_path,
                    password=password,
                    **options,
                )
            return CertificateCredential(
                tenant,
                app,
                certificate_data=_certificate_data(settings),
                password=password,
                **options,
            )
        if kind is CredentialKind.MANAGED_IDENTITY:
            source = self._managed_identity()

            def assertion() -> str:
                return source.get_token(TOKEN_EXCHANGE_SCOPE).token

            return ClientAssertionCredential(tenant, app, assertion, **options)
        raise ConfigurationError(
            "PLATFORM_APP_CLIENT_SECRET",
            "azure mode needs PLATFORM_APP_CLIENT_SECRET, PLATFORM_APP_CERTIFICATE(_PATH) or "
            "PLATFORM_APP_MANAGED_IDENTITY",
        )

    def credential(self, tenant: str) -> TokenCredential:
        """The credential that requests tokens in ``tenant`` (one per tenant, reused)."""
        if self._fixed is not None:
            return self._fixed
        with self._lock:
            found = self._by_tenant.get(tenant)
            if found is None:
                try:
                    found = self._build(tenant)
                except (ValueError, TypeError, OSError) as exc:
                    # An unreadable certificate or a wrong password: the text may quote the
                    # content, so only the setting is named.
                    setting = (
                        "PLATFORM_APP_CERTIFICATE_PATH"
                        if self._settings.platform_app_certificate_path
                        else "PLATFORM_APP_CERTIFICATE"
                    )
                    raise ConfigurationError(
                        setting,
                        f"could not be loaded (wrong format or password: {type(exc).__name__})",
                    ) from None
                self._by_tenant[tenant] = found
            return found

    def get_token(self, tenant: str, *scopes: str, **kwargs: Any) -> AccessToken:
        if self._fixed is not None:
            return self._fixed.get_token(*scopes, tenant_id=tenant, **kwargs)
        return self.credential(tenant).get_token(*scopes, **kwargs)

    def forget(self, tenant: str) -> None:
        """Close and drop ``tenant``'s credential (after a failure: next time starts afresh)."""
        with self._lock:
            dropped = self._by_tenant.pop(tenant, None)
        _close(dropped)

    @property
    def home_tenant(self) -> str:
        """The platform app's home tenant (used only when no customer tenant is known)."""
        return self._settings.platform_app_tenant_id

    @property
    def tenants(self) -> list[str]:
        with self._lock:
            return sorted(self._by_tenant)

    def close(self) -> None:
        with self._lock:
            dropped = [*self._by_tenant.values(), self._assertion_source]
            self._by_tenant.clear()
            self._assertion_source = None
        for credential in dropped:
            _close(credential)


def _close(credential: object) -> None:
    close = getattr(credential, "close", None)
    if callable(close):
        close()


def _token(
    identity: PlatformIdentity,
    scopes: tuple[str, ...],
    *,
    claims: str | None,
    tenant_id: str | None,
    enable_cae: bool,
    kwargs: dict[str, Any],
) -> AccessToken:
    tenant = tenant_id or identity.home_tenant
    try:
        return identity.get_token(tenant, *scopes, claims=claims, enable_cae=enable_cae, **kwargs)
    except TokenRequestError:
        raise
    except ClientAuthenticationError as exc:
        code = _aad_code_in(exc)
        if code:
            # Entra ID answered (HTTP 400 and the like, which MSAL replays for 60 s): the next
            # attempt starts from a fresh credential. A network failure keeps the credential,
            # which other requests may be using.
            identity.forget(tenant)
        detail = f"AADSTS{code}" if code else type(exc).__name__
        raise TokenRequestError(f"no token for tenant {tenant} ({detail})", aad_code=code) from exc


def _aad_code_in(exc: BaseException) -> str | None:
    """The AADSTS code in the error or the errors it wraps. MSAL reports a tenant whose
    discovery document answered 4xx (AADSTS90002 in the body) as "Unable to get authority
    configuration", which is not worth a retry either."""
    seen: set[int] = set()
    item: BaseException | None = exc
    messages: list[str] = []
    while item is not None and id(item) not in seen:
        seen.add(id(item))
        messages.append(str(getattr(item, "message", None) or item))
        item = item.__cause__ or item.__context__
    for message in messages:
        code = aad_code_of(message)
        if code:
            return code
    if any("Unable to get authority configuration" in m for m in messages):
        return "90002"
    return None


#: A tenant id, or a coroutine function that discovers it (None: the platform's home tenant).
TenantSource = str | Callable[[], Awaitable[str | None]] | None


class TenantPinnedCredential(AsyncInert):
    """An ``aio`` credential that requests tokens in the customer's tenant unless a challenge
    names another one.

    ``tenant`` is a tenant id, or a coroutine function that discovers it (awaited at the first
    token request, so building a client never waits on the network). The token itself comes
    from ``PlatformIdentity``'s azure-identity credential in a worker thread: one credential
    (and its token cache) serves every event loop, and tokens are cached for about an hour, so
    the thread hop is rare."""

    def __init__(self, identity: PlatformIdentity, tenant: TenantSource) -> None:
        self._identity = identity
        self._tenant = tenant
        self._lock: asyncio.Lock | None = None

    async def tenant_id(self) -> str | None:
        """The pinned tenant (discovered once, on first use)."""
        if not callable(self._tenant):
            return self._tenant
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if callable(self._tenant):
                self._tenant = await self._tenant()
            return self._tenant

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return await asyncio.to_thread(
            _token,
            self._identity,
            scopes,
            claims=claims,
            tenant_id=tenant_id or await self.tenant_id(),
            enable_cae=enable_cae,
            kwargs=kwargs,
        )
