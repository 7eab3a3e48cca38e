"""What the local Microsoft Entra ID and storage front know: tenants, apps, accounts, roles."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from tests.identity_stack.pki import ClientCertificate

STORAGE_RESOURCE = "https://storage.azure.com"
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class ServicePrincipal:
    app_id: str
    object_id: str = field(default_factory=new_id)
    enabled: bool = True


@dataclass
class Tenant:
    tenant_id: str
    #: Service principals by app id: an app is usable in a tenant only once registered there.
    principals: dict[str, ServicePrincipal] = field(default_factory=dict)
    #: Answer every token request in this tenant with this AADSTS error (code, description).
    token_error: tuple[int, str] | None = None


@dataclass(frozen=True)
class FederatedCredential:
    issuer: str
    subject: str
    audience: str = TOKEN_EXCHANGE_AUDIENCE


@dataclass
class AppRegistration:
    """The platform's multi-tenant app, registered in its home tenant."""

    app_id: str
    home_tenant: str
    secrets: set[str] = field(default_factory=set)
    certificates: list[ClientCertificate] = field(default_factory=list)
    federated: list[FederatedCredential] = field(default_factory=list)


@dataclass(frozen=True)
class RoleAssignment:
    """Storage Blob Data Reader for ``principal`` (service principal object id)."""

    principal: str
    #: None: the storage account; else the container it was assigned on.
    container: str | None = None
    #: The ABAC condition's container name (version 2.0, blobs/read), None: no condition.
    condition_container: str | None = None
    #: ``time.monotonic()`` from which it applies (creation + the propagation delay).
    effective_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class CorsRule:
    origins: tuple[str, ...]
    methods: tuple[str, ...] = ("GET",)
    max_age: int = 3600


@dataclass
class Account:
    name: str
    tenant_id: str
    assignments: list[RoleAssignment] = field(default_factory=list)
    cors: list[CorsRule] = field(default_factory=list)
    #: The firewall refuses the platform (no resource-instance rule or trusted access).
    network_blocked: bool = False


@dataclass
class ManagedIdentity:
    """The function app's managed identity (secretless mode): its tokens for the token-exchange
    audience are the platform app's client assertions."""

    principal_id: str = field(default_factory=new_id)
    client_id: str = field(default_factory=new_id)
    secret_header: str = field(default_factory=lambda: uuid.uuid4().hex)
