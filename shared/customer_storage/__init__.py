"""Read-only access to customers' Azure Blob Storage, shared by the wizard and the sync engine;
async only (``azure.storage.blob.aio`` clients on an azure-core async transport).

Two modes (``Settings.storage_mode``):

- ``AZURE``: the platform's multi-tenant app (client secret, certificate, or secretless through
  the function app's managed identity), one credential per customer tenant; the customer's
  tenant is discovered from the storage bearer challenge and pinned per account. Endpoint:
  ``https://{account}.blob.{suffix}`` (or the ``STORAGE_BLOB_ENDPOINT`` template); authority
  and trusted CAs from settings, so the same code runs against a local identity stack.
- ``EMULATOR``: Azurite accounts and keys from ``EMULATOR_ACCOUNTS``; endpoint
  ``{EMULATOR_BLOB_ENDPOINT}/{account}``. An account that is not configured behaves like a
  missing Azure account: every request fails as if its host name did not resolve.

Public surface::

    storage = CustomerStorage(settings)                 # transport=, per_call_policies= for tests
    async with storage.container_client(account, container) as cc: ...
    async with storage.service_client(account) as service: ...
    await storage.probe_account(account)       # exists? tenant? (anonymous request)
    await storage.preflight(account, container, blob, origin=...)   # CORS, as a browser does it
    storage.close()                      # closes the per-tenant credentials
    await list_blobs_page(cc, prefix=..., page_size=..., marker=...)  # lean listing page
    await walk_step(cc, cursor, root=..., page_size=..., width=...)  # folders listed at once
    classify_error(exc)                  # StorageFailure(fault=StorageFault.X, status, code)

Retries: ``RetryProfile.BACKGROUND`` (1 s doubling, 4 retries, 10 s connect / 20 s read) for sync runs,
``RetryProfile.READS`` (2 s read timeout, 0.25-2.25 s backoff) for a sync run's ranged head reads,
``RetryProfile.INTERACTIVE`` (one quick retry, short timeouts) when a person is waiting; a host
that does not resolve is never retried.
"""

from __future__ import annotations

from shared.customer_storage._access import AccountProbe, CustomerStorage, PreflightResult
from shared.customer_storage._credentials import (
    STORAGE_SCOPE,
    PlatformIdentity,
    TenantPinnedCredential,
    tenant_from_challenge,
)
from shared.customer_storage._errors import (
    AccountNotFoundError,
    StorageFailure,
    StorageFault,
    TokenRequestError,
    classify_error,
    classify_http,
    is_account_not_found,
)
from shared.customer_storage._listing import ListedBlob, list_blobs_page
from shared.customer_storage._pipeline import (
    Policy,
    PolicyTransport,
    RetryProfile,
    retry_policy,
)
from shared.customer_storage._walk import ShapePart, WalkStep, valid_seed, walk_step

__all__ = [
    "STORAGE_SCOPE",
    "AccountNotFoundError",
    "AccountProbe",
    "CustomerStorage",
    "ListedBlob",
    "PlatformIdentity",
    "Policy",
    "PolicyTransport",
    "PreflightResult",
    "RetryProfile",
    "ShapePart",
    "StorageFailure",
    "StorageFault",
    "TenantPinnedCredential",
    "TokenRequestError",
    "WalkStep",
    "classify_error",
    "classify_http",
    "is_account_not_found",
    "list_blobs_page",
    "retry_policy",
    "tenant_from_challenge",
    "valid_seed",
    "walk_step",
]
