"""``GET /api/console/{*path}`` under the dev host: the files with their content types, a strict
CSP on every answer, revalidation with ETags, and nothing outside ``console/``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from api.console import resolve, security_headers
from shared.settings import Settings
from tests.console.conftest import Service


def get(service: Service, raw_path: str, **headers: str) -> httpx.Response:
    # A raw path: httpx must not normalise the ``..`` segments away before they reach the host.
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        request = client.build_request("GET", "/", headers=headers)
        request.url = request.url.copy_with(raw_path=raw_path.encode())
        return client.send(request, follow_redirects=False)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/console/", "text/html; charset=utf-8"),
        ("/api/console/index.html", "text/html; charset=utf-8"),
        ("/api/console/app.js", "text/javascript; charset=utf-8"),
        ("/api/console/api.js", "text/javascript; charset=utf-8"),
        ("/api/console/styles.css", "text/css; charset=utf-8"),
        ("/api/console/icon.svg", "image/svg+xml"),
    ],
)
def test_files_are_served_with_their_type_and_a_strict_policy(
    service: Service, path: str, content_type: str
) -> None:
    response = get(service, path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    # Revalidation: the same ETag answers 304 without the body.
    again = get(service, path, **{"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_page_has_no_inline_script_or_style(service: Service) -> None:
    html = get(service, "/api/console/").text
    assert '<script type="module" src="app.js"></script>' in html
    assert "<style" not in html and " style=" not in html and "onclick" not in html
    for name in ("app.js", "api.js", "ui.js"):
        source = get(service, f"/api/console/{name}").text
        # Markup is built with textContent; the key is never persisted.
        for use in (
            r"\.(innerHTML|outerHTML)\b",
            r"\b(localStorage|sessionStorage)\.",
            r"\.cookie\b",
        ):
            assert not re.search(use, source), (name, use)


def test_the_bare_console_url_redirects_to_the_folder(service: Service) -> None:
    response = get(service, "/api/console")
    assert response.status_code == 308
    assert response.headers["location"] == "/api/console/"


@pytest.mark.parametrize(
    "path",
    [
        "/api/console/../function_app.py",
        "/api/console/%2e%2e/function_app.py",
        "/api/console/..%2Fhost.json",
        "/api/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/console/.hidden.js",
        "/api/console/missing.js",
        "/api/console/app.py",
        "/api/console/..%5Capi%5Cconsole.py",
    ],
)
def test_nothing_outside_the_console_folder_is_served(service: Service, path: str) -> None:
    response = get(service, path)
    assert response.status_code == 404, (path, response.status_code)
    assert b"import" not in response.content and b"root:" not in response.content


def test_resolve_refuses_escapes_and_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "console"
    root.mkdir()
    (root / "index.html").write_text("<p>hi</p>")
    (tmp_path / "secret.js").write_text("secret")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    assert resolve("", root) == (root / "index.html").resolve()
    assert resolve("index.html", root) == (root / "index.html").resolve()
    for bad in ("../secret.js", "link.js", "a/../../secret.js", "/../secret.js", "x\\..\\y.js"):
        assert resolve(bad, root) is None, bad


def test_the_console_ships_in_the_app_package() -> None:
    """``func azure functionapp publish`` honours ``.funcignore``: the console must stay in."""
    root = Path(__file__).resolve().parents[2]
    ignored = {
        line.strip().strip("/")
        for line in (root / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not {"console", "console/*", "api", "*.js", "*.css", "*.html"} & ignored
    assert (root / "console" / "index.html").is_file()


def test_thumbnails_may_come_only_from_the_customers_blob_endpoints(service: Service) -> None:
    policy = get(service, "/api/console/").headers["content-security-policy"]
    emulator = httpx.URL(service.customer.blob_endpoint)
    directives = policy.split("; ")
    assert f"img-src 'self' http://127.0.0.1:{emulator.port}" in directives
    azure = Settings.from_env(
        {
            "CUSTOMER_STORAGE_MODE": "azure",
            "PLATFORM_APP_CLIENT_ID": "0a1b2c3d-1111-4222-8333-944455556666",
            "PLATFORM_APP_TENANT_ID": "f0e1d2c3-0000-4000-8000-00000000a11e",
            "PLATFORM_APP_CLIENT_SECRET": "not-a-real-secret",
            "METADATA_STORAGE_CONNECTION": "UseDevelopmentStorage=true",
            "STORAGE_ENDPOINT_SUFFIX": "core.chinacloudapi.cn",
        }
    )
    directives = security_headers(azure)["Content-Security-Policy"].split("; ")
    assert "img-src 'self' https://*.blob.core.chinacloudapi.cn" in directives
