"""Fixtures of the CLI tests: the real app under a key-checking dev host on the session Azurite,
a ``blobsync`` runner (click's CliRunner, in process) and a scripted stand-in function app for
answers the real one cannot be made to give (a 500, a run that never ends)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner, Result

from blobsync_cli.cli import cli
from devhost.azurite import Azurite, EmulatorAccount, emulator_app_settings
from tests.support.loopback import LoopbackServer, QuietHandler
from tests.support.service import KeyedService, keyed_service

#: Wide enough that rich tables do not wrap the names and reasons the tests look for.
COLUMNS = "220"


Service = KeyedService


@pytest.fixture(scope="module")
def service(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """The project's app under the dev host, keys enforced as in Azure."""
    env = emulator_app_settings(
        platform_account,
        [customer_account],
        blob_endpoint=f"http://127.0.0.1:{azurite.blob_port}",
        PLATFORM_APP_CLIENT_ID="0a1b2c3d-1111-4222-8333-944455556666",
        SYNC_PAGE_SIZE="40",
        SYNC_BATCH_SIZE="15",
    )
    workspace = tmp_path_factory.mktemp("cli-devhost")
    with keyed_service(Service, env, customer_account, workspace) as started:
        yield started


Invoke = Callable[..., Result]


def _invoke(env: dict[str, str], args: list[str], input: str | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(
        cli, args, env={"COLUMNS": COLUMNS, **env}, input=input, prog_name="blobsync"
    )


@pytest.fixture
def blobsync(service: Service) -> Invoke:
    """``blobsync ARGS...`` against the dev host, keys from the environment as a user sets them."""
    env = {
        "BLOBSYNC_URL": service.base_url,
        "BLOBSYNC_FUNCTION_KEY": service.function_key,
        "BLOBSYNC_ADMIN_KEY": service.admin_key,
    }

    def invoke(*args: str, input: str | None = None, **overrides: str) -> Result:
        return _invoke({**env, **overrides}, list(args), input)

    return invoke


@pytest.fixture
def blobsync_bare() -> Invoke:
    """``blobsync ARGS...`` with no URL or key in the environment."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return _invoke(
            {"BLOBSYNC_URL": "", "BLOBSYNC_FUNCTION_KEY": "", "BLOBSYNC_ADMIN_KEY": ""},
            list(args),
            input,
        )

    return invoke


# -- a scripted stand-in function app ------------------------------------------------------------

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class StubApp(LoopbackServer):
    """A loopback HTTP server answering from ``routes`` (``"GET /api/..." -> reply or callable``)
    and recording every request's method, path and headers."""

    routes: dict[str, Reply | Callable[[], Reply]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                stub.requests.append((self.command, self.path, dict(self.headers.items())))
                route = stub.routes.get(f"{self.command} {self.path.split('?', 1)[0]}")
                status, headers, body = (
                    (404, {}, b"") if route is None else route() if callable(route) else route
                )
                self.reply(status, list(headers.items()), body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        super().__init__(Handler)

    @property
    def base_url(self) -> str:
        return self.url


def json_reply(
    status: int, body: Any, content_type: str = "application/json", **headers: str
) -> Reply:
    return status, {"Content-Type": content_type, **headers}, json.dumps(body).encode()


@pytest.fixture
def stub() -> Iterator[StubApp]:
    app = StubApp()
    try:
        yield app
    finally:
        app.close()
