"""The local Microsoft Entra ID, managed-identity endpoint and enforcing storage front.

All three are aiohttp applications on one event loop in a background thread; the Entra ID and
the front speak HTTPS with the session CA, the managed-identity endpoint speaks plain HTTP on
loopback like App Service's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from aiohttp import ClientSession, TCPConnector, web

from tests.identity_stack.model import (
    STORAGE_RESOURCE,
    TOKEN_EXCHANGE_AUDIENCE,
    Account,
    AppRegistration,
    ManagedIdentity,
    Tenant,
    new_id,
)
from tests.identity_stack.pki import Pki

_BLOB_READ = "blobs/read"
_CONTAINER_READ = "containers/read"


@dataclass
class Directory:
    """Shared state of the stack; tests change it between requests (under ``lock``)."""

    pki: Pki
    entra_base: str = ""
    tenants: dict[str, Tenant] = field(default_factory=dict)
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    identity: ManagedIdentity = field(default_factory=ManagedIdentity)
    propagation_seconds: float = 0.0
    token_lifetime_seconds: int = 3600
    #: Tokens issued before this epoch second are treated as expired by the front.
    tokens_valid_from: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: What happened, for assertions: ("token", tenant, client) / ("storage", method, path, verdict)
    events: list[tuple[str, ...]] = field(default_factory=list)

    def record(self, *event: str) -> None:
        with self.lock:
            self.events.append(event)

    def principal_tenant(self, object_id: str) -> tuple[Tenant, str] | None:
        for tenant in self.tenants.values():
            for sp in tenant.principals.values():
                if sp.object_id == object_id:
                    return tenant, sp.app_id
        return None


def _aad_error(status: int, error: str, code: int, description: str) -> web.Response:
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {new_id()}",
            "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": new_id(),
            "correlation_id": new_id(),
        },
        status=status,
    )


# -- Microsoft Entra ID --------------------------------------------------------------------------


def entra_app(directory: Directory) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/{tenant}/v2.0/.well-known/openid-configuration")
    async def discovery(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant not in directory.tenants:
            return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{directory.entra_base}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{directory.entra_base}/{tenant}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post", "private_key_jwt", "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "EU",
            }
        )  # fmt: skip

    @routes.post("/{tenant}/oauth2/v2.0/token")
    async def token(request: web.Request) -> web.Response:
        tenant_id = request.match_info["tenant"]
        form = {k: v[0] for k, v in parse_qs(await request.text()).items()}
        client_id = form.get("client_id", "")
        directory.record("token", tenant_id, client_id)
        return issue_token(directory, tenant_id, client_id, form, str(request.url))

    app = web.Application()
    app.add_routes(routes)
    return app


def _client_authenticated(
    directory: Directory, app: AppRegistration, form: dict[str, str], token_url: str
) -> web.Response | None:
    """None when the client proved it is ``app``; else the Entra ID error."""
    if "client_secret" in form:
        if form["client_secret"] in app.secrets:
            return None
        return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    assertion = form.get("client_assertion")
    if not assertion:
        return _aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain "
            "the following parameter: 'client_assertion' or 'client_secret'.",
        )
    header = jwt.get_unverified_header(assertion)
    if "x5t" in header or "x5t#S256" in header:
        for cert in app.certificates:
            try:
                jwt.decode(
                    assertion,
                    cert.certificate.public_key(),
                    algorithms=["RS256", "PS256"],
                    audience=token_url,
                    options={"require": ["exp", "aud", "iss", "sub"]},
                )
                return None
            except jwt.PyJWTError:
                continue
        return _aad_error(
            401, "invalid_client", 700027, "Client assertion failed signature validation."
        )
    try:
        claims = jwt.decode(
            assertion,
            directory.pki.signing_public_key,
            algorithms=["RS256"],
            audience=TOKEN_EXCHANGE_AUDIENCE,
        )
    except jwt.ExpiredSignatureError:
        return _aad_error(
            400, "invalid_client", 700024, "Client assertion is not within its valid time range."
        )
    except jwt.PyJWTError:
        return _aad_error(
            401, "invalid_client", 700027, "Client assertion contains an invalid signature."
        )
    if any(f.issuer == claims.get("iss") and f.subject == claims.get("sub") for f in app.federated):
        return None
    return _aad_error(
        400, "invalid_client", 70021, "No matching federated identity record found for "
        f"presented assertion. Assertion Issuer: '{claims.get('iss')}'. Assertion Subject: "
        f"'{claims.get('sub')}'."
    )  # fmt: skip


def issue_token(
    directory: Directory, tenant_id: str, client_id: str, form: dict[str, str], token_url: str
) -> web.Response:
    with directory.lock:
        tenant = directory.tenants.get(tenant_id)
        app = directory.apps.get(client_id)
        if tenant is None:
            return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant_id}' not found.")
        if app is None:
            return _aad_error(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant_id}'.",
            )  # fmt: skip
        refused = _client_authenticated(directory, app, form, token_url)
        if refused is not None:
            return refused
        if tenant.token_error is not None:
            code, description = tenant.token_error
            return _aad_error(400, "invalid_grant", code, description)
        sp = tenant.principals.get(client_id)
        if sp is None:
            return _aad_error(
                400, "invalid_client", 7000229,
                f"The client application {client_id} is missing service principal in the "
                f"tenant {tenant_id}.",
            )  # fmt: skip
        if not sp.enabled:
            return _aad_error(
                400, "unauthorized_client", 7000112,
                f"Application '{client_id}' is disabled.",
            )  # fmt: skip
        scope = form.get("scope", "")
        if scope != f"{STORAGE_RESOURCE}/.default":
            return _aad_error(
                400, "invalid_resource", 500011,
                f"The resource principal named {scope} was not found in the tenant.",
            )  # fmt: skip
        lifetime = directory.token_lifetime_seconds
        now = int(time.time())
        claims = {
            "aud": STORAGE_RESOURCE,
            "iss": f"https://sts.windows.net/{tenant_id}/",
            "iat": now,
            "nbf": now - 5,
            "exp": now + lifetime,
            "appid": client_id,
            "idtyp": "app",
            "oid": sp.object_id,
            "sub": sp.object_id,
            "tid": tenant_id,
            "ver": "1.0",
        }
    token = jwt.encode(claims, directory.pki.signing_key, algorithm="RS256")
    return web.json_response(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }
    )


def managed_identity_app(directory: Directory) -> web.Application:
    """App Service's managed-identity endpoint (``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``)."""

    async def handle(request: web.Request) -> web.Response:
        identity = directory.identity
        if request.headers.get("X-IDENTITY-HEADER") != identity.secret_header:
            return web.json_response({"error": "unauthorized"}, status=401)
        resource = request.query.get("resource", "")
        if resource.removesuffix("/.default") != TOKEN_EXCHANGE_AUDIENCE:
            return web.json_response({"error": "invalid_resource"}, status=400)
        home = next(iter(directory.apps.values())).home_tenant
        now = int(time.time())
        token = jwt.encode(
            {
                "aud": TOKEN_EXCHANGE_AUDIENCE,
                "iss": f"{directory.entra_base}/{home}/v2.0",
                "sub": identity.principal_id,
                "oid": identity.principal_id,
                "azp": identity.client_id,
                "iat": now,
                "nbf": now - 5,
                "exp": now + 3600,
            },
            directory.pki.signing_key,
            algorithm="RS256",
        )
        directory.record("managed_identity", identity.client_id)
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(now + 3600),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            }
        )

    app = web.Application()
    app.router.add_get("/msi/token", handle)
    return app


# -- the enforcing storage front -----------------------------------------------------------------


def _storage_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{code}</Code><Message>{message}\nRequestId:{new_id()}</Message></Error>"
    )
    return web.Response(
        status=status,
        body=body.encode(),
        content_type="application/xml",
        headers={"x-ms-error-code": code, **(headers or {})},
    )


def _operation(method: str, parts: list[str], query: dict[str, str]) -> tuple[str, str | None]:
    """(action, container) a request needs: containers/read or blobs/read, or "write"."""
    if method not in ("GET", "HEAD"):
        return "write", parts[0] if parts else None
    if not parts:
        return ("list_containers" if query.get("comp") == "list" else "service", None)
    container = parts[0]
    if len(parts) == 1:
        if query.get("comp") == "list":
            return _BLOB_READ, container  # List Blobs is a blobs/read data action
        return _CONTAINER_READ, container
    return _BLOB_READ, container


def allowed(account: Account, principal: str, action: str, container: str | None) -> bool:
    """Storage Blob Data Reader: does any effective assignment allow ``action``?"""
    now = time.monotonic()
    for grant in account.assignments:
        if grant.principal != principal:
            continue
        if now < grant.effective_at:
            continue  # still propagating
        if action == "list_containers":
            if grant.container is None:
                return True
            continue
        if action not in (_CONTAINER_READ, _BLOB_READ) or container is None:
            continue
        if grant.container is not None and grant.container != container:
            continue
        if action == _BLOB_READ and grant.condition_container not in (None, container):
            continue
        return True
    return False


class Front:
    """The storage account as Azure enforces it, in front of Azurite (which stores the bytes
    and checks the token's audience and lifetime again)."""

    def __init__(self, directory: Directory, upstream: str) -> None:
        self.directory = directory
        self.upstream = upstream
        self._session: ClientSession | None = None

    def challenge(self, account: Account) -> dict[str, str]:
        uri = f"{self.directory.entra_base}/{account.tenant_id}/oauth2/authorize"
        return {
            "WWW-Authenticate": f"Bearer authorization_uri={uri} resource_id={STORAGE_RESOURCE}"
        }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        import ssl

        context = ssl.create_default_context(cafile=str(self.directory.pki.ca_file))
        self._session = ClientSession(connector=TCPConnector(ssl=context))

    async def _stop(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def _verdict(self, request: web.Request) -> tuple[Account | None, web.Response | None]:
        directory = self.directory
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return None, _storage_error(400, "InvalidUri", "No account in the path.")
        name, rest = parts[0], parts[1:]
        with directory.lock:
            account = directory.accounts.get(name)
        if account is None:
            # In Azure the host name would not resolve; on loopback the front says so instead.
            return None, _storage_error(404, "AccountNotFound", "The account does not exist.")
        if account.network_blocked:
            return account, _storage_error(
                403, "AuthorizationFailure", "This request is not authorized to perform this "
                "operation."
            )  # fmt: skip
        if request.method == "OPTIONS":
            return account, self._preflight(account, request)
        auth = request.headers.get("Authorization", "")
        if not auth:
            return account, _storage_error(
                401, "NoAuthenticationInformation", "Server failed to authenticate the request.",
                self.challenge(account),
            )  # fmt: skip
        if not auth.startswith("Bearer "):
            return account, _storage_error(
                403, "KeyBasedAuthenticationNotPermitted",
                "Key based authentication is not permitted on this storage account.",
            )  # fmt: skip
        try:
            claims = jwt.decode(
                auth.removeprefix("Bearer "),
                directory.pki.signing_public_key,
                algorithms=["RS256"],
                audience=[STORAGE_RESOURCE, f"{STORAGE_RESOURCE}/"],
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            directory.record("storage", request.method, request.path, "expired")
            return account, _storage_error(
                401, "InvalidAuthenticationInfo",
                "Server failed to authenticate the request. Lifetime validation failed. The "
                "token is expired.", self.challenge(account),
            )  # fmt: skip
        except jwt.PyJWTError:
            return account, _storage_error(
                401, "InvalidAuthenticationInfo", "Server failed to authenticate the request.",
                self.challenge(account),
            )  # fmt: skip
        if int(claims.get("iat", 0)) < directory.tokens_valid_from:
            directory.record("storage", request.method, request.path, "expired")
            return account, _storage_error(
                401, "InvalidAuthenticationInfo",
                "Server failed to authenticate the request. Lifetime validation failed. The "
                "token is expired.", self.challenge(account),
            )  # fmt: skip
        if claims.get("tid") != account.tenant_id:
            return account, _storage_error(
                401, "InvalidAuthenticationInfo",
                "Issuer validation failed. Issuer did not match.", self.challenge(account),
            )  # fmt: skip
        query = {k: v for k, v in request.query.items()}
        action, container = _operation(request.method, rest, query)
        with directory.lock:
            ok = allowed(account, str(claims.get("oid")), action, container)
        if not ok:
            directory.record("storage", request.method, request.path, "denied")
            return account, _storage_error(
                403, "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this "
                "permission.",
            )  # fmt: skip
        return account, None

    def _preflight(self, account: Account, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin", "")
        method = request.headers.get("Access-Control-Request-Method", "").upper()
        for rule in account.cors:
            if (origin in rule.origins or "*" in rule.origins) and method in rule.methods:
                return web.Response(
                    status=200,
                    headers={
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": ",".join(rule.methods),
                        "Access-Control-Allow-Headers": request.headers.get(
                            "Access-Control-Request-Headers", ""
                        ),
                        "Access-Control-Max-Age": str(rule.max_age),
                        "Access-Control-Allow-Credentials": "false",
                    },
                )
        return _storage_error(
            403, "CorsPreflightFailure",
            "CORS not enabled or no matching rule found for this request.",
        )  # fmt: skip

    async def handle(self, request: web.Request) -> web.StreamResponse:
        _account, refused = self._verdict(request)
        if refused is not None:
            return refused
        self.directory.record("storage", request.method, request.path, "allowed")
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding")
        }
        body = await request.read()
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
        ) as upstream:
            payload = await upstream.read()
            out = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                     "content-encoding", "server", "date")
            }  # fmt: skip
            return web.Response(status=upstream.status, body=payload, headers=out)


Mutator = Callable[[Directory], Any]
