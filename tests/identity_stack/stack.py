"""Start the local identity stack and change what it knows, from a test."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from devhost.azurite import Azurite, emulator_environment, free_port
from tests.identity_stack.model import (
    Account,
    AppRegistration,
    CorsRule,
    FederatedCredential,
    RoleAssignment,
    ServicePrincipal,
    Tenant,
    new_id,
)
from tests.identity_stack.pki import ClientCertificate, Pki, make_pki
from tests.identity_stack.servers import Directory, Front, entra_app, managed_identity_app
from tests.support.loopback import wait_for_https

__all__ = ["IdentityStack", "running_stack"]


class _TlsAzurite:
    """Azurite's blob service over HTTPS with ``--oauth basic`` (bearer tokens accepted)."""

    def __init__(self, workspace: Path, pki: Pki, accounts: tuple[str, ...]) -> None:
        self.workspace = workspace
        self.pki = pki
        self.accounts = accounts
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.workspace.mkdir(parents=True, exist_ok=True)
        args = [
            str(Azurite.executable().with_name("azurite-blob")),
            "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose",
            "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
            "--location", str(self.workspace / "data"),
            "--cert", str(self.pki.cert_file), "--key", str(self.pki.key_file),
            "--oauth", "basic",
        ]  # fmt: skip
        env = emulator_environment(self.accounts)
        with (self.workspace / "azurite.log").open("ab") as log:
            self._proc = subprocess.Popen(
                args, cwd=self.workspace, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        url = f"https://127.0.0.1:{self.port}/{self.accounts[0]}?comp=list"
        if not wait_for_https(url, self.pki.ca_file, self._proc, timeout, interval=0.1):
            self.stop()
            raise RuntimeError("the HTTPS Azurite did not start")

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@dataclass
class IdentityStack:
    directory: Directory
    azurite: _TlsAzurite
    entra_port: int
    front_port: int
    identity_port: int
    #: The platform's app registration and its home tenant.
    app_id: str
    home_tenant: str
    secret: str

    # -- where the app points --------------------------------------------------------------
    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.entra_port}"

    @property
    def blob_endpoint_template(self) -> str:
        return f"https://127.0.0.1:{self.front_port}/{{account}}"

    @property
    def ca_file(self) -> str:
        return str(self.directory.pki.ca_file)

    @property
    def identity_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.identity_port}/msi/token"

    def app_settings(self) -> dict[str, str]:
        """The app settings of azure mode against this stack (client secret credential)."""
        return {
            "CUSTOMER_STORAGE_MODE": "azure",
            "PLATFORM_APP_CLIENT_ID": self.app_id,
            "PLATFORM_APP_TENANT_ID": self.home_tenant,
            "PLATFORM_APP_CLIENT_SECRET": self.secret,
            "PLATFORM_APP_AUTHORITY_HOST": self.authority,
            "STORAGE_BLOB_ENDPOINT": self.blob_endpoint_template,
            "TLS_CA_BUNDLE": self.ca_file,
        }

    # -- the customer's side ---------------------------------------------------------------
    def new_tenant(self) -> str:
        tenant = new_id()
        with self.directory.lock:
            self.directory.tenants[tenant] = Tenant(tenant)
        return tenant

    def add_account(self, name: str, tenant: str) -> Account:
        """A storage account (Azurite must serve ``name``) owned by ``tenant``, no roles."""
        account = Account(name, tenant)
        with self.directory.lock:
            self.directory.accounts[name] = account
        return account

    def register_app(self, tenant: str, *, enabled: bool = True) -> ServicePrincipal:
        """``az ad sp create --id <app>`` in ``tenant``."""
        sp = ServicePrincipal(self.app_id, enabled=enabled)
        with self.directory.lock:
            self.directory.tenants[tenant].principals[self.app_id] = sp
        return sp

    def assign_reader(
        self, account: str, *, container: str | None = None, condition: str | None = None
    ) -> RoleAssignment:
        """Storage Blob Data Reader for the platform app on the account (or a container),
        with the container condition naming ``condition``; applies after the propagation
        delay."""
        with self.directory.lock:
            acct = self.directory.accounts[account]
            sp = self.directory.tenants[acct.tenant_id].principals[self.app_id]
            grant = RoleAssignment(
                sp.object_id,
                container,
                condition,
                time.monotonic() + self.directory.propagation_seconds,
            )
            acct.assignments.append(grant)
        return grant

    def set_cors(self, account: str, *origins: str) -> None:
        with self.directory.lock:
            self.directory.accounts[account].cors = [CorsRule(tuple(origins))] if origins else []

    def block_network(self, account: str, blocked: bool = True) -> None:
        with self.directory.lock:
            self.directory.accounts[account].network_blocked = blocked

    def fail_tokens(self, tenant: str, code: int, description: str) -> None:
        with self.directory.lock:
            self.directory.tenants[tenant].token_error = (code, description)

    def add_certificate(self, certificate: ClientCertificate) -> None:
        with self.directory.lock:
            self.directory.apps[self.app_id].certificates.append(certificate)

    def federate_managed_identity(self) -> FederatedCredential:
        """Add the function app's managed identity as a federated credential of the app."""
        credential = FederatedCredential(
            f"{self.authority}/{self.home_tenant}/v2.0", self.directory.identity.principal_id
        )
        with self.directory.lock:
            self.directory.apps[self.app_id].federated.append(credential)
        return credential

    def expire_tokens_issued_until_now(self) -> None:
        """From now on the front refuses every token issued so far as expired."""
        with self.directory.lock:
            self.directory.tokens_valid_from = int(time.time()) + 1

    def token_requests(self) -> list[tuple[str, ...]]:
        with self.directory.lock:
            return [e for e in self.directory.events if e[0] == "token"]

    def storage_events(self) -> list[tuple[str, ...]]:
        with self.directory.lock:
            return [e for e in self.directory.events if e[0] == "storage"]

    def reset(self) -> None:
        """Forget every customer tenant, account, role and event (keeps the platform app)."""
        with self.directory.lock:
            home = self.directory.tenants[self.home_tenant]
            home.principals.clear()
            home.token_error = None
            self.directory.tenants = {self.home_tenant: home}
            self.directory.accounts.clear()
            self.directory.events.clear()
            self.directory.propagation_seconds = 0.0
            self.directory.token_lifetime_seconds = 3600
            self.directory.tokens_valid_from = 0
            app = self.directory.apps[self.app_id]
            app.certificates.clear()
            app.federated.clear()


@contextmanager
def running_stack(workspace: Path, accounts: tuple[str, ...]) -> Iterator[IdentityStack]:
    pki = make_pki(workspace / "pki")
    directory = Directory(pki)
    azurite = _TlsAzurite(workspace / "azurite", pki, accounts)
    azurite.start()
    ports = (free_port(), free_port(), free_port())
    directory.entra_base = f"https://127.0.0.1:{ports[0]}"
    home = new_id()
    app_id = new_id()
    secret = "local-" + new_id()  # a throwaway secret of the local stack only
    directory.tenants[home] = Tenant(home)
    directory.apps[app_id] = AppRegistration(app_id, home, {secret})

    loop = asyncio.new_event_loop()
    runners: list[web.AppRunner] = []
    ready = threading.Event()
    failure: list[BaseException] = []

    async def start() -> None:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(str(pki.cert_file), str(pki.key_file))
        apps = (
            (entra_app(directory), ports[0], server_tls),
            (Front(directory, azurite.endpoint).app(), ports[1], server_tls),
            (managed_identity_app(directory), ports[2], None),
        )
        for app, port, tls in apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
            runners.append(runner)

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            failure.append(exc)
        ready.set()
        if not failure:
            loop.run_forever()

    thread = threading.Thread(target=run, name="identity-stack", daemon=True)
    thread.start()
    ready.wait(30)
    try:
        if failure:
            raise failure[0]
        yield IdentityStack(directory, azurite, ports[0], ports[1], ports[2], app_id, home, secret)
    finally:

        async def stop() -> None:
            for runner in runners:
                await runner.cleanup()

        if not failure:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        azurite.stop()
