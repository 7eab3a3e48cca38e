"""Customer storage access: endpoints from validated names only, both modes, aio clients (the
only kind), missing accounts, short retries, tenant discovery from the bearer challenge."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy

from devhost.azurite import EmulatorAccount
from shared.customer_storage import (
    STORAGE_SCOPE,
    AccountNotFoundError,
    CustomerStorage,
    RetryProfile,
    StorageFault,
    TenantPinnedCredential,
    classify_error,
    retry_policy,
    tenant_from_challenge,
)
from shared.customer_storage._pipeline import timeouts
from shared.errors import ValidationError
from shared.settings import Settings
from tests.api.conftest import SAMPLE, MakeContainer, emulator_env
from tests.api.faults import (
    FaultPolicy,
    ScriptedTransport,
    azure_error,
    canned,
    entra_id,
    list_blobs_in,
)

#: The platform's home tenant in these tests (tokens still go to each customer's tenant).
HOME = "f0e1d2c3-0000-4000-8000-00000000a11e"
AZURE_ENV = {
    **SAMPLE,
    "CUSTOMER_STORAGE_MODE": "azure",
    "PLATFORM_APP_TENANT_ID": HOME,
    "PLATFORM_APP_CLIENT_SECRET": "x",
}


@pytest.fixture
def emulator_settings(
    customer_account: EmulatorAccount, other_customer_account: EmulatorAccount
) -> Settings:
    return Settings.from_env({**SAMPLE, **emulator_env(customer_account, other_customer_account)})


def test_endpoints_are_built_from_validated_names_only(emulator_settings: Settings) -> None:
    azure = CustomerStorage(Settings.from_env(AZURE_ENV))
    assert azure.account_url("contosomedia") == "https://contosomedia.blob.core.windows.net"
    local = CustomerStorage(emulator_settings)
    assert (
        local.account_url("contosomedia")
        == emulator_settings.emulator_blob_endpoint + "/contosomedia"
    )
    for hostile in ("evil.com/x", "contoso.blob.core.windows.net#", "a@b", "UPPER", ""):
        with pytest.raises(ValidationError):
            azure.account_url(hostile)
    with pytest.raises(ValidationError):
        azure.container_client("contosomedia", "../other")
    assert azure.blob_url("contosomedia", "media", "a b/#1?.jpg") == (
        "https://contosomedia.blob.core.windows.net/media/a%20b/%231%3F.jpg"
    )


def test_client_lists_and_reads_ranges(
    emulator_settings: Settings, make_container: MakeContainer
) -> None:
    container = make_container({"x/a.jpg": b"0123456789", "x/b.mp4": b"abcdef"})
    storage = CustomerStorage(emulator_settings)

    async def main() -> tuple[list[str], bytes]:
        async with storage.container_client("contosomedia", container) as client:
            names = [b.name async for b in client.list_blobs(name_starts_with="x/")]
            stream = await client.download_blob("x/a.jpg", offset=2, length=3)
            return names, await stream.readall()

    assert asyncio.run(main()) == (["x/a.jpg", "x/b.mp4"], b"234")


def test_only_aio_clients_are_offered(emulator_settings: Settings) -> None:
    """Customer storage never blocks an event loop: no blocking client is on offer."""
    from azure.storage.blob import aio

    storage = CustomerStorage(emulator_settings)
    assert not any(name.startswith("async_") for name in dir(storage))  # no second kind
    assert isinstance(storage.container_client("contosomedia", "media"), aio.ContainerClient)
    assert isinstance(storage.service_client("contosomedia"), aio.BlobServiceClient)


def test_aio_client_reads_concurrently(
    emulator_settings: Settings, make_container: MakeContainer
) -> None:
    container = make_container({f"{i}.jpg": bytes([i]) * 100 for i in range(16)})
    storage = CustomerStorage(emulator_settings)

    async def main() -> list[bytes]:
        async with storage.container_client("contosomedia", container) as client:
            names = [b.name async for b in client.list_blobs()]

            async def head(name: str) -> bytes:
                stream = await client.download_blob(name, offset=0, length=4)
                return await stream.readall()

            return await asyncio.gather(*(head(n) for n in names))

    heads = asyncio.run(main())
    assert sorted(heads) == [bytes([i]) * 4 for i in range(16)]


def test_an_unconfigured_account_behaves_like_a_missing_one(emulator_settings: Settings) -> None:
    recorder = FaultPolicy()
    storage = CustomerStorage(emulator_settings, per_call_policies=[recorder])
    assert not storage.knows_account("ghostaccount")

    async def aio() -> None:
        async with storage.container_client("ghostaccount", "media") as client:
            [b async for b in client.list_blobs()]

    with pytest.raises(AccountNotFoundError) as info:
        asyncio.run(aio())
    assert classify_error(info.value).fault is StorageFault.ACCOUNT_NOT_FOUND
    assert len(recorder.seen) == 1  # a name that does not exist is never retried


def test_probe_tells_served_from_unserved_accounts(
    customer_account: EmulatorAccount, other_customer_account: EmulatorAccount
) -> None:
    env = emulator_env(customer_account, other_customer_account)
    env["EMULATOR_ACCOUNTS"] += ";notserved:a2V5"
    storage = CustomerStorage(Settings.from_env({**SAMPLE, **env}))

    async def exists(account: str) -> bool | None:
        return (await storage.probe_account(account)).exists

    assert asyncio.run(exists("contosomedia")) is True
    assert asyncio.run(exists("notserved")) is False
    assert asyncio.run(exists("ghostaccount")) is False


def test_transient_errors_are_retried_quickly(
    emulator_settings: Settings, make_container: MakeContainer
) -> None:
    container = make_container({"a.jpg": b"x"})
    busy = {"left": 1}

    def server_busy(request: Any) -> Any:
        busy["left"] -= 1
        return azure_error(503, "ServerBusy")(request)

    policy = FaultPolicy().on(
        lambda r: list_blobs_in(container)(r) and busy["left"] > 0, server_busy
    )
    storage = CustomerStorage(emulator_settings, per_call_policies=[policy])

    async def names() -> list[str]:
        async with storage.container_client(
            "contosomedia", container, profile=RetryProfile.INTERACTIVE
        ) as client:
            return [b.name async for b in client.list_blobs()]

    assert asyncio.run(names()) == ["a.jpg"]
    assert len([s for s in policy.seen if "comp=list" in s[1]]) == 2


def test_retry_backoff_is_seconds_not_the_sdk_default() -> None:
    background = retry_policy(RetryProfile.BACKGROUND)
    waits = [background.get_backoff_time({"count": n}) for n in range(4)]
    assert waits[0] <= 1.5 and waits[-1] <= 9.5  # SDK default starts at 15 s
    assert background.total_retries == 4
    # One request gives up within seconds: a run waits longer outages out with durable timers.
    assert timeouts(RetryProfile.BACKGROUND) == {"connection_timeout": 10, "read_timeout": 20}
    assert retry_policy(RetryProfile.INTERACTIVE).total_retries == 1


def test_per_call_policies_see_every_request(
    emulator_settings: Settings, make_container: MakeContainer
) -> None:
    container = make_container({"a.jpg": b"x"})
    seen: list[str] = []

    class Recorder(AsyncHTTPPolicy):  # type: ignore[type-arg]
        async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
            seen.append(request.http_request.method)
            return await self.next.send(request)  # type: ignore[no-any-return]

    storage = CustomerStorage(emulator_settings, per_call_policies=[Recorder()])

    async def main() -> None:
        async with storage.container_client("contosomedia", container) as client:
            await (await client.download_blob("a.jpg")).readall()

    asyncio.run(main())
    assert seen == ["GET"]


@pytest.mark.parametrize(
    ("header", "tenant"),
    [
        (
            "Bearer authorization_uri=https://login.microsoftonline.com/"
            "72F988BF-86F1-41AF-91AB-2D7CD011DB47/oauth2/authorize "
            "resource_id=https://storage.azure.com",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
        ),
        (
            'Bearer authorization_uri="https://login.microsoftonline.com/'
            '11111111-2222-3333-4444-555555555555/oauth2/authorize", '
            'resource_id="https://storage.azure.com"',
            "11111111-2222-3333-4444-555555555555",
        ),
        ("Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2", None),
        ("Basic realm=x", None),
        (None, None),
    ],
)
def test_tenant_from_challenge(header: str | None, tenant: str | None) -> None:
    assert tenant_from_challenge(header) == tenant


def test_async_credential_asks_the_tenant_discovered_from_the_challenge() -> None:
    """The aio clients' credential: the tenant comes from the account's bearer challenge
    (discovered lazily, once), the token from that tenant."""
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    transport = entra_id(ScriptedTransport())
    transport.on(
        lambda r: "blob.core.windows.net" in r.url,
        lambda r: canned(
            r,
            401,
            b"",
            {
                "WWW-Authenticate": f"Bearer authorization_uri=https://login.microsoftonline.com/"
                f"{tenant}/oauth2/authorize resource_id=https://storage.azure.com"
            },
        ),
    )
    settings = Settings.from_env(AZURE_ENV)
    from azure.identity import ClientSecretCredential

    inner = ClientSecretCredential(
        "organizations",
        settings.platform_app_id,
        "x",
        additionally_allowed_tenants=["*"],
        transport=transport,
    )
    storage = CustomerStorage(settings, transport=transport.aio, credential=inner)
    credential = TenantPinnedCredential(storage.identity, lambda: storage.tenant_of("contosomedia"))

    async def main() -> str:
        first = await credential.get_token(STORAGE_SCOPE)
        await credential.get_token(STORAGE_SCOPE)
        return first.token

    assert asyncio.run(main()) == "fake-access-token"
    probes = [u for _, u, _ in transport.seen if "blob.core" in u]
    tokens = [u for _, u, _ in transport.seen if u.endswith("/token")]
    assert len(probes) == 1  # discovered once, then cached
    assert tokens and all(f"/{tenant}/" in u for u in tokens)
