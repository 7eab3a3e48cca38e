"""Short-lived read-only URLs for one blob (previews in the platform's viewer).

Azure: a user delegation SAS signed with a key the platform's identity obtains from the
customer's account (Storage Blob Data Reader allows it), valid for minutes. Emulator: an
account-key SAS. Either way the URL grants read on one blob only. URLs are returned to the
caller, never logged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from shared.customer_storage import CustomerStorage
from shared.settings import Settings

__all__ = ["read_url"]


async def read_url(
    *,
    storage: CustomerStorage,
    settings: Settings,
    account: str,
    container: str,
    name: str,
    ttl: timedelta = timedelta(minutes=15),
) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expiry = now + ttl
    permission = BlobSasPermissions(read=True)
    if storage.emulator:
        key = settings.emulator_key(account)
        if key is None:
            raise LookupError("account is not served by the emulator")
        sas = generate_blob_sas(
            account, container, name, account_key=key, permission=permission, expiry=expiry
        )
    else:
        async with storage.service_client(account) as service:
            delegation = await service.get_user_delegation_key(now - timedelta(minutes=5), expiry)
        sas = generate_blob_sas(
            account,
            container,
            name,
            user_delegation_key=delegation,
            permission=permission,
            expiry=expiry,
        )
    return f"{storage.blob_url(account, container, name)}?{sas}", expiry
