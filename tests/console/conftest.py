"""Fixtures of the web console tests: the real app under a key-checking dev host on the session
Azurite, Debian's Chromium driven by Playwright (no browser download), and a ``Console`` page
wrapper that records console errors and failed requests, runs axe-core on each screen and takes
screenshots at 390 px and 1280 px into ``tests/console/screenshots/`` (git-ignored)."""

from __future__ import annotations

import http.client
import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import ContainerClient
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)

import mediagen
from devhost.azurite import PROJECT_ROOT, Azurite, EmulatorAccount, emulator_app_settings
from tests.support.loopback import LoopbackServer, QuietHandler
from tests.support.service import KeyedService, keyed_service

SCREENSHOTS = Path(__file__).with_name("screenshots")
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
]
WIDTHS = (1280, 390)
APP_ID = "0a1b2c3d-1111-4222-8333-944455556666"


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Chromium is not installed: run ./scripts/setup.sh (apt-get install chromium)",
            pytrace=False,
        )
    return path


@dataclass
class Service(KeyedService):
    """The console's app, with the console's address and the API calls its tests make."""

    @property
    def console_url(self) -> str:
        return self.base_url + "/api/console/"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"x-functions-key": self.function_key, **kwargs.pop("headers", {})}
        return httpx.request(
            method, self.base_url + "/api/" + path, headers=headers, timeout=60, **kwargs
        )

    def create_org(self, org: str, plan: str = "paid", quota: int = 100000) -> None:
        response = httpx.put(
            f"{self.base_url}/api/orgs/{org}",
            json={"plan": plan, "monthlyQuota": quota},
            headers={"x-functions-key": self.admin_key},
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text


@pytest.fixture(scope="module")
def service(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """The project's app under the dev host, keys enforced as in Azure; small pages and batches
    so a run of a hundred files reports progress many times."""
    with running_service(
        azurite,
        platform_account,
        customer_account,
        blob_endpoint=f"http://127.0.0.1:{azurite.blob_port}",
        workspace=tmp_path_factory.mktemp("console-devhost"),
    ) as started:
        yield started


@contextmanager
def running_service(
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    *,
    blob_endpoint: str,
    workspace: Path,
) -> Iterator[Service]:
    env = emulator_app_settings(
        platform_account,
        [customer_account],
        blob_endpoint=blob_endpoint,
        PLATFORM_APP_CLIENT_ID=APP_ID,
        SYNC_PAGE_SIZE="20",
        SYNC_BATCH_SIZE="4",
        SYNC_BATCHES_IN_FLIGHT="2",
    )
    with keyed_service(Service, env, customer_account, workspace) as started:
        yield started


def corpus(n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` mixed files from mediagen plus one planted failure per common skip reason."""
    files = mediagen.mixed_set(
        n, seed, image_size=(160, 120), video_size=(64, 48), video_seconds=0.4
    )
    files += [
        ("planted/rotated phone photo.jpg", mediagen.jpeg(160, 120, orientation=6, seed=901)),
        ("planted/gopro.mp4", mediagen.mp4(brand="isom", size=(64, 48), seconds=0.4, seed=902)),
        ("planted/empty.jpg", b""),
    ]
    return files


def upload(container: ContainerClient, files: list[tuple[str, bytes]]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda f: container.upload_blob(f[0], f[1], overwrite=True), files))


# Module scope: while the sync driver runs, its event loop counts as running in this thread,
# so it must be gone before later tests call asyncio.run().
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Console:
    """One browser tab on the console, with what went wrong in it recorded."""

    page: Page
    service: Service
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expected: list[tuple[int, re.Pattern[str]]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    screens: list[str] = field(default_factory=list)

    def expect_refusal(self, status: int, path: str) -> None:
        """Declare an API answer with ``status`` at a URL matching ``path`` as intended."""
        self.expected.append((status, re.compile(path)))

    def _is_expected(self, status: int, url: str) -> bool:
        return any(s == status and p.search(url) for s, p in self.expected)

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and not self._is_expected(response.status, response.url):
            self.failed.append(f"{response.status} {response.request.method} {response.url}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "") if message.location else ""
        found = re.search(r"status of (\d{3})", message.text)
        if found and self._is_expected(int(found[1]), url):
            return
        self.errors.append(f"{message.text} ({url})")

    def sign_in(self, org: str, key: str | None = None) -> None:
        self.page.goto(self.service.console_url)
        self.page.get_by_label("Organisation").fill(org)
        self.page.get_by_label("Function key").fill(
            self.service.function_key if key is None else key
        )
        self.page.get_by_role("button", name="Open console").click()

    def heading(self, text: str) -> None:
        self.page.get_by_role("heading", level=1, name=text).wait_for()

    def axe(self) -> list[dict[str, Any]]:
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            # Evaluated over the DevTools protocol: the page's CSP (no inline script) stays on.
            self.page.evaluate(AXE.read_text(encoding="utf-8"))
        violations: list[dict[str, Any]] = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        return [v for v in violations if v.get("impact") in ("serious", "critical")]

    def screen(self, name: str) -> None:
        """Screenshot ``name`` at both widths, with an axe scan at each: nothing serious."""
        SCREENSHOTS.mkdir(exist_ok=True)
        # Every image on the screen loads and draws: no broken thumbnail anywhere.
        self.page.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
            timeout=15_000,
        )
        original = self.page.viewport_size or {"width": 1280, "height": 900}
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.wait_for_timeout(100)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
            bad = self.axe()
            assert not bad, (name, width, [(v["id"], v["impact"], v["help"]) for v in bad])
            overflow = self.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 1, f"{name} scrolls sideways at {width} px ({overflow} px)"
        self.page.set_viewport_size(original)
        self.screens.append(name)

    def assert_clean(self) -> None:
        assert not self.errors, self.errors
        assert not self.failed, self.failed


@contextmanager
def console_tab(browser: Browser, service: Service) -> Iterator[Console]:
    """A fresh browser context on the console; on a clean exit, asserts nothing went wrong."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="en-GB"
    )
    page = context.new_page()
    tab = Console(page, service)
    page.on("console", tab.on_console)
    page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: tab.failed.append(f"failed {req.method} {req.url}"))
    page.on("response", tab.on_response)
    page.on("request", lambda req: tab.requests.append(req))
    page.set_default_timeout(30_000)
    try:
        yield tab
        tab.assert_clean()
    finally:
        context.close()


@pytest.fixture
def console(browser: Browser, service: Service) -> Iterator[Console]:
    with console_tab(browser, service) as tab:
        yield tab


class PermissionFaultProxy(LoopbackServer):
    """A loopback reverse proxy in front of Azurite's blob endpoint that, while ``refusing`` is
    set, answers requests on one container as Azure does while a role assignment has not
    propagated yet (403 ``AuthorizationPermissionMismatch``); everything else passes through
    unchanged (shared-key signatures do not cover the host)."""

    def __init__(self, target_port: int, container: str) -> None:
        self.refusing = True
        self.refused = 0
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path.split("?", 1)[0].rstrip("/")
                if proxy.refusing and path.endswith("/" + container):
                    proxy.refused += 1
                    code = "AuthorizationPermissionMismatch"
                    payload = (
                        '<?xml version="1.0" encoding="utf-8"?><Error><Code>'
                        f"{code}</Code><Message>injected</Message></Error>"
                    ).encode()
                    self.reply(
                        403,
                        [("x-ms-error-code", code), ("Content-Type", "application/xml")],
                        payload,
                    )
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", target_port, timeout=60)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                skip = ("transfer-encoding", "connection", "content-length")
                length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                self.reply(
                    answer.status,
                    [(k, v) for k, v in answer.getheaders() if k.lower() not in skip],
                    data,
                    length,
                )
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = _serve

        super().__init__(Handler)

    @property
    def endpoint(self) -> str:
        return self.url
