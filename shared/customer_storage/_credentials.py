"""The platform's multi-tenant identity, pinned to one customer tenant per client.

The Blob SDK's bearer policy already follows a storage challenge (401 + ``WWW-Authenticate:
Bearer authorization_uri=https://login.microsoftonline.com/<tenant>/oauth2/authorize``) and asks
the credential for a token in that tenant, but only after a first request has failed with a
token from the app's home tenant. We discover the tenant once per account (an anonymous request
answers with the challenge) and pin it, so every request carries the right token first time;
the SDK's challenge handling stays as the fallback when a tenant changes.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from shared.customer_storage._errors import TokenRequestError, aad_code_of
from shared.customer_storage._pipeline import AsyncInert
from shared.errors import ConfigurationError
from shared.settings import Settings

__all__ = [
    "STORAGE_SCOPE",
    "AsyncTenantPinnedCredential",
    "TenantPinnedCredential",
    "TenantSource",
    "platform_credential",
    "tenant_from_challenge",
]

STORAGE_SCOPE = "https://storage.azure.com/.default"
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


def platform_credential(settings: Settings) -> TokenCredential:
    """The platform app's credential (certificate preferred over secret), allowed to request
    tokens in any tenant where the customer registered it."""
    if not settings.platform_app_id:
        raise ConfigurationError("PLATFORM_APP_CLIENT_ID", "must be set in azure mode")
    from azure.identity import CertificateCredential, ClientSecretCredential

    if settings.platform_app_certificate_path:
        return CertificateCredential(
            settings.platform_app_tenant_id,
            settings.platform_app_id,
            certificate_path=settings.platform_app_certificate_path,
            additionally_allowed_tenants=["*"],
        )
    if settings.platform_app_secret:
        return ClientSecretCredential(
            settings.platform_app_tenant_id,
            settings.platform_app_id,
            settings.platform_app_secret,
            additionally_allowed_tenants=["*"],
        )
    raise ConfigurationError(
        "PLATFORM_APP_CLIENT_SECRET",
        "or PLATFORM_APP_CERTIFICATE_PATH must be set in azure mode",
    )


def _token(
    inner: TokenCredential,
    scopes: tuple[str, ...],
    *,
    claims: str | None,
    tenant_id: str | None,
    enable_cae: bool,
    kwargs: dict[str, Any],
) -> AccessToken:
    try:
        return inner.get_token(
            *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
        )
    except TokenRequestError:
        raise
    except ClientAuthenticationError as exc:
        code = aad_code_of(str(exc.message or ""))
        detail = f"AADSTS{code}" if code else type(exc).__name__
        raise TokenRequestError(
            f"no token for tenant {tenant_id or 'home'} ({detail})", aad_code=code
        ) from exc


TenantSource = str | Callable[[], str | None] | None


class TenantPinnedCredential:
    """Requests tokens in the customer's tenant unless a challenge names another one.

    ``tenant`` is a tenant id, or a function that discovers it (called at the first token
    request, so building a client never blocks on the network)."""

    def __init__(self, inner: TokenCredential, tenant: TenantSource) -> None:
        self._inner = inner
        self._tenant = tenant
        self._lock = threading.Lock()

    @property
    def tenant_id(self) -> str | None:
        with self._lock:
            if callable(self._tenant):
                self._tenant = self._tenant()
            return self._tenant

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return _token(
            self._inner,
            scopes,
            claims=claims,
            tenant_id=tenant_id or self.tenant_id,
            enable_cae=enable_cae,
            kwargs=kwargs,
        )


class AsyncTenantPinnedCredential(AsyncInert):
    """The async face of the same credential: the sync credential runs in a worker thread, so
    one credential (and its token cache) serves every event loop; tokens are cached for about
    an hour, so the thread hop is rare."""

    def __init__(self, inner: TokenCredential, tenant: TenantSource) -> None:
        self._sync = TenantPinnedCredential(inner, tenant)

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return await asyncio.to_thread(
            self._sync.get_token,
            *scopes,
            claims=claims,
            tenant_id=tenant_id,
            enable_cae=enable_cae,
            **kwargs,
        )
