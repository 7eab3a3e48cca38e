"""A local stand-in for Azure's identity-based storage: Azurite over HTTPS with ``--oauth basic``
(bearer tokens accepted, shared keys still work) and a managed-identity endpoint speaking the
App Service protocol (``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``) that issues storage tokens."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devhost.azurite import Azurite, emulator_key, free_port
from tests.identity_stack.pki import localhost_certificate, pem_key
from tests.support.loopback import LoopbackServer, wait_for_https

TENANT = "72f988bf-0000-4000-8000-000000000001"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = localhost_certificate(key.public_key()).sign(key, hashes.SHA256())
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(pem_key(key))
    return cert_file, key_file


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def storage_token(resource: str, client_id: str, lifetime: int = 3600) -> tuple[str, int]:
    """A JWT as Entra ID issues for storage (Azurite's basic OAuth checks the claims, not the
    signature)."""
    now = int(time.time())
    claims = {
        "aud": resource.rstrip("/"),
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now,
        "nbf": now - 60,
        "exp": now + lifetime,
        "appid": client_id,
        "oid": client_id,
        "tid": TENANT,
        "ver": "1.0",
    }
    header = {"alg": "RS256", "typ": "JWT"}
    token = ".".join(
        [
            _b64(json.dumps(header).encode()),
            _b64(json.dumps(claims).encode()),
            _b64(secrets.token_bytes(32)),
        ]
    )
    return token, now + lifetime


class _IdentityHandler(BaseHTTPRequestHandler):
    header_secret: ClassVar[str] = ""
    client_id: ClassVar[str] = ""
    requests: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        type(self).requests.append(query)
        if self.headers.get("X-IDENTITY-HEADER") != self.header_secret:
            self._answer(401, {"error": "invalid_request", "error_description": "missing header"})
            return
        if query.get("api-version") != "2019-08-01" or "resource" not in query:
            self._answer(400, {"error": "invalid_request", "error_description": "bad query"})
            return
        if query.get("client_id", self.client_id) != self.client_id:
            self._answer(400, {"error": "invalid_request", "error_description": "unknown identity"})
            return
        token, expires = storage_token(query["resource"], self.client_id)
        self._answer(
            200,
            {
                "access_token": token,
                "expires_on": str(expires),
                "resource": query["resource"],
                "token_type": "Bearer",
                "client_id": self.client_id,
            },
        )

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class IdentityStorage:
    """What a test needs to point the app and the dev host at the stack."""

    account: str
    key: str
    blob_endpoint: str
    table_endpoint: str
    queue_endpoint: str
    cert_file: Path
    identity_endpoint: str
    identity_header: str
    client_id: str
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def tls_env(self) -> dict[str, str]:
        """Trust the stack's certificate (OpenSSL for aiohttp, requests for the sync clients)."""
        return {"SSL_CERT_FILE": str(self.cert_file), "REQUESTS_CA_BUNDLE": str(self.cert_file)}

    def identity_env(self) -> dict[str, str]:
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
        }

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=https;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint={self.blob_endpoint};TableEndpoint={self.table_endpoint};"
            f"QueueEndpoint={self.queue_endpoint};"
        )


@contextmanager
def running_identity_storage(
    workspace: Path, account: str, client_id: str
) -> Iterator[IdentityStorage]:
    workspace.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = make_certificate(workspace)
    ports = {"blob": free_port(), "table": free_port(), "queue": free_port()}
    args = [
        str(Azurite.executable()),
        "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose",
        "--blobHost", "127.0.0.1", "--blobPort", str(ports["blob"]),
        "--tableHost", "127.0.0.1", "--tablePort", str(ports["table"]),
        "--queueHost", "127.0.0.1", "--queuePort", str(ports["queue"]),
        "--location", str(workspace / "data"),
        "--cert", str(cert_file), "--key", str(key_file), "--oauth", "basic",
    ]  # fmt: skip
    env = {**os.environ, "AZURITE_ACCOUNTS": f"{account}:{emulator_key(account)}"}
    with (workspace / "azurite.log").open("ab") as log:
        proc = subprocess.Popen(
            args, cwd=workspace, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _IdentityHandler.header_secret = secrets.token_hex(16)
    _IdentityHandler.client_id = client_id
    _IdentityHandler.requests = []
    server = LoopbackServer(_IdentityHandler)
    try:
        tables = f"https://127.0.0.1:{ports['table']}/{account}/Tables"  # 401 without credentials
        if not wait_for_https(tables, cert_file, proc, 60, interval=0.2):
            raise RuntimeError((workspace / "azurite.log").read_text()[-3000:])
        yield IdentityStorage(
            account=account,
            key=emulator_key(account),
            blob_endpoint=f"https://127.0.0.1:{ports['blob']}/{account}",
            table_endpoint=f"https://127.0.0.1:{ports['table']}/{account}",
            queue_endpoint=f"https://127.0.0.1:{ports['queue']}/{account}",
            cert_file=cert_file,
            identity_endpoint=f"{server.url}/msi/token",
            identity_header=_IdentityHandler.header_secret,
            client_id=client_id,
            token_requests=_IdentityHandler.requests,
        )
    finally:
        server.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
