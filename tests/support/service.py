"""The project's app under a dev host process that enforces keys as in Azure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from devhost.azurite import PROJECT_ROOT, EmulatorAccount
from devhost.testing import DevHostProcess


@dataclass
class KeyedService:
    """A started dev host, its function (default) and admin (master) keys, and the customer's
    account the app reads."""

    host: DevHostProcess
    function_key: str
    admin_key: str
    customer: EmulatorAccount

    @property
    def base_url(self) -> str:
        return self.host.base_url


S = TypeVar("S", bound=KeyedService)


@contextmanager
def keyed_service(
    kind: type[S], env: dict[str, str], customer: EmulatorAccount, workspace: Path
) -> Iterator[S]:
    """Start the app with ``env`` as its settings; on the way out stop it and print the end of
    its log if anything in it raised."""
    host = DevHostProcess(PROJECT_ROOT, env=env, require_keys=True, workspace=workspace)
    host.start()
    try:
        keys = host.keys()
        yield kind(host, keys.function_default, keys.master, customer)
    finally:
        host.stop()
        log = host.log_text()
        if "Traceback" in log:
            print("---- dev host log (errors) ----\n" + log[-6000:])
