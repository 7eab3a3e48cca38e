"""Fixtures of the end-to-end sync tests: the app under the dev host, in front of Azurite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, EmulatorAccount
from devhost.testing import DevHostProcess
from tests.sync.harness import Api, CountingProxy, running_service


@pytest.fixture(scope="module")
def service(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    other_customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DevHostProcess, Api, CountingProxy]]:
    with running_service(
        azurite,
        platform_account,
        [customer_account, other_customer_account],
        tmp_path_factory.mktemp("devhost"),
        hub="SyncE2E",
    ) as running:
        try:
            yield running
        finally:
            log = running[0].log_text()
            if "Traceback" in log or "unhandled" in log:
                print("---- dev host log (errors) ----\n" + log[-6000:])


@pytest.fixture
def api(service: tuple[DevHostProcess, Api, CountingProxy]) -> Api:
    return service[1]


@pytest.fixture
def proxy(service: tuple[DevHostProcess, Api, CountingProxy]) -> CountingProxy:
    return service[2]
