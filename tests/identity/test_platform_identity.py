"""The platform app's identity settings, each proven by a real token from the local stack:
client secret, certificate (file, PEM content, PFX content, with or without password),
secretless (managed identity as federated credential), one credential per tenant, closed."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from shared.customer_storage import CustomerStorage
from shared.errors import ConfigurationError
from shared.settings import CredentialKind, Settings
from tests.api.conftest import SAMPLE
from tests.conftest import CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT
from tests.identity_stack.pki import make_client_certificate
from tests.identity_stack.stack import IdentityStack


def azure_settings(stack: IdentityStack, **values: str) -> Settings:
    env = {**SAMPLE, **stack.app_settings(), **values}
    return Settings.from_env({k: v for k, v in env.items() if v is not None})


def without_secret(stack: IdentityStack, **values: str) -> Settings:
    return azure_settings(stack, PLATFORM_APP_CLIENT_SECRET="", **values)


def customer_tenant(stack: IdentityStack) -> str:
    tenant = stack.new_tenant()
    stack.add_account(CUSTOMER_ACCOUNT, tenant)
    stack.register_app(tenant)
    return tenant


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["", "organizations", "common", "Consumers"])
def test_azure_mode_needs_a_real_home_tenant(stack: IdentityStack, tenant: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        azure_settings(stack, PLATFORM_APP_TENANT_ID=tenant)
    assert info.value.setting == "PLATFORM_APP_TENANT_ID"


def test_exactly_one_credential(stack: IdentityStack) -> None:
    assert azure_settings(stack).platform_app_credential is CredentialKind.SECRET
    with pytest.raises(ConfigurationError, match="exactly one"):
        azure_settings(stack, PLATFORM_APP_MANAGED_IDENTITY="system")
    with pytest.raises(ConfigurationError, match="azure mode needs"):
        without_secret(stack)
    with pytest.raises(ConfigurationError) as info:
        without_secret(stack, PLATFORM_APP_MANAGED_IDENTITY="my-identity")
    assert info.value.setting == "PLATFORM_APP_MANAGED_IDENTITY"
    with pytest.raises(ConfigurationError) as info:
        azure_settings(stack, STORAGE_BLOB_ENDPOINT="https://example.net/no-account")
    assert info.value.setting == "STORAGE_BLOB_ENDPOINT"
    with pytest.raises(ConfigurationError) as info:
        azure_settings(stack, PLATFORM_APP_AUTHORITY_HOST="http://login.example")
    assert info.value.setting == "PLATFORM_APP_AUTHORITY_HOST"
    # Secrets never show in the settings' repr.
    text = repr(azure_settings(stack, PLATFORM_APP_CERTIFICATE_PASSWORD="pw-123"))
    assert stack.secret not in text and "pw-123" not in text


def test_defaults_are_azures(stack: IdentityStack) -> None:
    env = {**SAMPLE, "CUSTOMER_STORAGE_MODE": "azure", "PLATFORM_APP_CLIENT_SECRET": "s",
           "PLATFORM_APP_CLIENT_ID": stack.app_id, "PLATFORM_APP_TENANT_ID": stack.home_tenant}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.platform_app_authority_host == "https://login.microsoftonline.com"
    storage = CustomerStorage(settings)
    assert storage.account_url("contosomedia") == "https://contosomedia.blob.core.windows.net"
    local = CustomerStorage(azure_settings(stack))
    assert local.account_url("contosomedia") == f"https://127.0.0.1:{stack.front_port}/contosomedia"


# -- each credential gets a real token ------------------------------------------------------------


def test_client_secret(stack: IdentityStack) -> None:
    tenant = customer_tenant(stack)
    with CustomerStorage(azure_settings(stack)) as storage:
        assert asyncio.run(storage.tenant_of(CUSTOMER_ACCOUNT)) == tenant
        asyncio.run(storage.request_token(tenant))
    assert [t[1:] for t in stack.token_requests()] == [(tenant, stack.app_id)]


def _certificate_settings(stack: IdentityStack, tmp_path: Path) -> dict[str, dict[str, str]]:
    cert = make_client_certificate()
    stack.add_certificate(cert)
    pem_file = tmp_path / "platform.pem"
    pem_file.write_bytes(cert.pem)
    pfx_file = tmp_path / "platform.pfx"
    pfx_file.write_bytes(cert.pfx("pfx-pass"))
    return {
        "pem file": {"PLATFORM_APP_CERTIFICATE_PATH": str(pem_file)},
        "pfx file + password": {
            "PLATFORM_APP_CERTIFICATE_PATH": str(pfx_file),
            "PLATFORM_APP_CERTIFICATE_PASSWORD": "pfx-pass",
        },
        "pem content": {"PLATFORM_APP_CERTIFICATE": cert.pem.decode()},
        "pem content, escaped newlines": {
            "PLATFORM_APP_CERTIFICATE": cert.pem.decode().replace("\n", "\\n")
        },
        "encrypted pem content + password": {
            "PLATFORM_APP_CERTIFICATE": cert.encrypted_pem("pem-pass").decode(),
            "PLATFORM_APP_CERTIFICATE_PASSWORD": "pem-pass",
        },
        "base64 pfx (Key Vault)": {
            "PLATFORM_APP_CERTIFICATE": base64.b64encode(cert.pfx(None)).decode()
        },
        "base64 pfx + password": {
            "PLATFORM_APP_CERTIFICATE": base64.b64encode(cert.pfx("kv-pass")).decode(),
            "PLATFORM_APP_CERTIFICATE_PASSWORD": "kv-pass",
        },
    }


def test_certificate_from_a_file_or_content(stack: IdentityStack, tmp_path: Path) -> None:
    tenant = customer_tenant(stack)
    for label, values in _certificate_settings(stack, tmp_path).items():
        settings = without_secret(stack, **values)
        assert settings.platform_app_credential is CredentialKind.CERTIFICATE
        with CustomerStorage(settings) as storage:
            before = len(stack.token_requests())
            asyncio.run(storage.request_token(tenant))
            assert len(stack.token_requests()) == before + 1, label


def test_a_certificate_that_does_not_load_names_the_setting_only(
    stack: IdentityStack, tmp_path: Path
) -> None:
    tenant = customer_tenant(stack)
    cert = make_client_certificate()
    content = base64.b64encode(cert.pfx("right")).decode()
    settings = without_secret(
        stack, PLATFORM_APP_CERTIFICATE=content, PLATFORM_APP_CERTIFICATE_PASSWORD="hunter2-pw"
    )
    with CustomerStorage(settings) as storage, pytest.raises(ConfigurationError) as info:
        asyncio.run(storage.request_token(tenant))
    assert info.value.setting == "PLATFORM_APP_CERTIFICATE"
    assert "hunter2-pw" not in str(info.value) and content[:20] not in str(info.value)


def test_a_certificate_the_app_does_not_know_is_the_platforms_problem(
    stack: IdentityStack, tmp_path: Path
) -> None:
    tenant = customer_tenant(stack)
    stranger = make_client_certificate("not-registered")
    settings = without_secret(stack, PLATFORM_APP_CERTIFICATE=stranger.pem.decode())
    from shared.customer_storage import TokenRequestError

    with CustomerStorage(settings) as storage, pytest.raises(TokenRequestError) as info:
        asyncio.run(storage.request_token(tenant))
    assert info.value.aad_code == "700027"


def test_secretless_managed_identity_as_federated_credential(
    stack: IdentityStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """App Service hands the function app's managed identity a token for
    api://AzureADTokenExchange; the app registration trusts it as a federated credential."""
    from shared.customer_storage import TokenRequestError

    monkeypatch.setenv("IDENTITY_ENDPOINT", stack.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", stack.directory.identity.secret_header)
    tenant = customer_tenant(stack)
    settings = without_secret(stack, PLATFORM_APP_MANAGED_IDENTITY="system")
    assert settings.platform_app_credential is CredentialKind.MANAGED_IDENTITY
    with CustomerStorage(settings) as storage, pytest.raises(TokenRequestError) as info:
        asyncio.run(storage.request_token(tenant))  # not federated yet
    assert info.value.aad_code == "70021"
    stack.federate_managed_identity()
    with CustomerStorage(settings) as storage:
        asyncio.run(storage.request_token(tenant))
    events = [e[0] for e in stack.directory.events]
    assert "managed_identity" in events and events[-1] == "token"


def test_one_credential_per_tenant_reused_then_closed(stack: IdentityStack) -> None:
    first = customer_tenant(stack)
    second = stack.new_tenant()
    stack.add_account(OTHER_CUSTOMER_ACCOUNT, second)
    stack.register_app(second)
    storage = CustomerStorage(azure_settings(stack))

    async def both() -> None:
        for account in (CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT):
            await storage.request_token(await storage.tenant_of(account) or "")

    for _ in range(3):
        asyncio.run(both())
    assert storage.identity.tenants == sorted([first, second])
    # Each tenant's token came from Entra ID once, then from that tenant's cache.
    assert sorted(t[1] for t in stack.token_requests()) == sorted([first, second])
    storage.close()
    assert storage.identity.tenants == []
    asyncio.run(storage.request_token(first))  # a fresh credential, so a fresh token request
    assert len(stack.token_requests()) == 3
    storage.close()
