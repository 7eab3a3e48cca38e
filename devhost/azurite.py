"""Start and stop a real Azurite (the project's pinned npm package) on free loopback ports.

Used by the test suite, the dev host's demo and the benchmark. Azurite serves several storage
accounts at once when ``AZURITE_ACCOUNTS`` is set; the service needs two: the platform's metadata
account and a customer account it does not own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

#: Azurite's public, documented development account (not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def emulator_key(account: str) -> str:
    """A deterministic base64 key for an extra emulator account (local use only, never Azure)."""
    if account == DEV_ACCOUNT:
        return DEV_KEY
    return base64.b64encode(hashlib.sha512(f"azurite-local:{account}".encode()).digest()).decode()


#: Node options for every emulator the project starts. Azurite builds each List Blobs answer
#: (5,000 entries) as a tree of short-lived objects; with Node's default young generation, the
#: garbage collector took 2.5 of 14 CPU-seconds while it served a 100,000-blob listing. A 64 MiB
#: semi-space cut the pages' time by a sixth (10.4 s to 8.6 s, medians of three, same
#: container); 32 MiB gained less and 128 MiB nothing more. It changes the emulator's speed
#: only: what it answers is the same.
EMULATOR_NODE_OPTIONS = "--max-semi-space-size=64"


def emulator_environment(accounts: Sequence[str]) -> dict[str, str]:
    """The environment an Azurite process starts with: this one, the accounts it serves
    (``AZURITE_ACCOUNTS``) and the emulator's Node options after any the caller set."""
    env = dict(os.environ)
    env["AZURITE_ACCOUNTS"] = ";".join(f"{a}:{emulator_key(a)}" for a in accounts)
    env["NODE_OPTIONS"] = " ".join(filter(None, (env.get("NODE_OPTIONS"), EMULATOR_NODE_OPTIONS)))
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class EmulatorAccount:
    """One storage account served by a running Azurite."""

    name: str
    key: str
    blob_endpoint: str
    table_endpoint: str
    queue_endpoint: str

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.name};AccountKey={self.key};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )


class Azurite:
    """A running Azurite process with its own workspace; stop() kills it by PID."""

    def __init__(
        self,
        workspace: Path,
        accounts: tuple[str, ...] = (DEV_ACCOUNT,),
        *,
        host: str = "127.0.0.1",
        blob_port: int | None = None,
        table_port: int | None = None,
        queue_port: int | None = None,
        in_memory: bool = False,
    ) -> None:
        self.workspace = workspace
        self.accounts_names = accounts
        self.host = host
        self.blob_port = blob_port or free_port()
        self.table_port = table_port or free_port()
        self.queue_port = queue_port or free_port()
        self.in_memory = in_memory
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Path = workspace / "azurite.log"

    # -- lifecycle -------------------------------------------------------------------------
    @staticmethod
    def executable() -> Path:
        exe = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"
        if not exe.exists():
            raise RuntimeError(
                "Azurite is not installed in node_modules; run the README setup command (npm ci)"
            )
        return exe

    def start(self, timeout: float = 60.0) -> Azurite:
        self.workspace.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.executable()),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
            "--blobHost", self.host, "--blobPort", str(self.blob_port),
            "--tableHost", self.host, "--tablePort", str(self.table_port),
            "--queueHost", self.host, "--queuePort", str(self.queue_port),
        ]  # fmt: skip
        if self.in_memory:
            args.append("--inMemoryPersistence")
        else:
            args += ["--location", str(self.workspace / "data")]
        log = self._log.open("ab")
        self._proc = subprocess.Popen(
            args,
            cwd=self.workspace,
            env=emulator_environment(self.accounts_names),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        targets = [
            f"http://{self.host}:{self.blob_port}/{self.accounts_names[0]}?comp=list",
            f"http://{self.host}:{self.table_port}/{self.accounts_names[0]}/Tables",
        ]
        pending = list(targets)
        while pending:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"Azurite exited early; see {self._log}:\n{self._tail()}")
            try:
                urllib.request.urlopen(pending[0], timeout=2)  # noqa: S310 - loopback only
                pending.pop(0)
                continue
            except urllib.error.HTTPError:
                pending.pop(0)  # any HTTP answer (403 without auth) means the service is up
                continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not answer within {timeout:.0f}s:\n{self._tail()}")
            time.sleep(0.1)

    def _tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- accounts --------------------------------------------------------------------------
    def account(self, name: str) -> EmulatorAccount:
        if name not in self.accounts_names:
            raise KeyError(f"Azurite was started without account {name!r}")
        base = f"http://{self.host}"
        return EmulatorAccount(
            name=name,
            key=emulator_key(name),
            blob_endpoint=f"{base}:{self.blob_port}/{name}",
            table_endpoint=f"{base}:{self.table_port}/{name}",
            queue_endpoint=f"{base}:{self.queue_port}/{name}",
        )


def emulator_app_settings(
    platform: EmulatorAccount,
    customers: Sequence[EmulatorAccount],
    *,
    blob_endpoint: str,
    metadata_connection: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The app settings of the function app running on Azurite in emulator mode: ``platform``
    holds the task hub and the metadata store (``metadata_connection`` may route it through a
    proxy), ``customers`` are served at ``blob_endpoint``; ``overrides`` add or replace settings
    (e.g. ``SYNC_PAGE_SIZE="100"``)."""
    return {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": platform.connection_string,
        "METADATA_STORAGE_CONNECTION": metadata_connection or platform.connection_string,
        "CUSTOMER_STORAGE_MODE": "emulator",
        "EMULATOR_BLOB_ENDPOINT": blob_endpoint.rstrip("/"),
        "EMULATOR_ACCOUNTS": ";".join(f"{a.name}:{a.key}" for a in customers),
        **overrides,
    }
