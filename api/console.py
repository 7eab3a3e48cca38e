"""``GET /api/console/{*path}``: the web console's static files (``console/`` at the app root).

The console is plain HTML, CSS and JavaScript modules that call the public API; it ships in the
app package, so nothing is fetched from another host at run time. Every answer carries a strict
Content-Security-Policy (scripts and styles only from these files, no inline code, images also
from the customer's blob endpoint for the short-lived thumbnail URLs). Files are revalidated
(``no-cache`` + ``ETag``) because their names carry no version. Only regular files under
``console/`` with a known extension are served: ``..``, hidden names, backslashes and anything
else answer 404.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from api.http import http_boundary, problem_response
from shared.settings import Settings, StorageMode
from shared.wiring import wiring

bp = df.Blueprint()

ROOT = Path(__file__).resolve().parent.parent / "console"

CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def resolve(path: str, root: Path = ROOT) -> Path | None:
    """The file under ``root`` that ``path`` names, or ``None`` when it must not be served."""
    rel = path.strip("/") or "index.html"
    if "\\" in rel or "\x00" in rel:
        return None
    parts = rel.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    candidate = root.joinpath(*parts)
    if candidate.suffix.lower() not in CONTENT_TYPES:
        return None
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_file() or not resolved.is_relative_to(root.resolve()):
        return None
    return resolved


@lru_cache(maxsize=64)
def _load(path: Path, mtime_ns: int) -> StaticFile:
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return StaticFile(body, CONTENT_TYPES[path.suffix.lower()], etag)


def load(path: Path) -> StaticFile:
    return _load(path, path.stat().st_mtime_ns)


def image_sources(settings: Settings) -> str:
    """Where thumbnails come from: the customer's blob endpoints (short-lived read URLs)."""
    if settings.storage_mode is StorageMode.EMULATOR:
        parts = urlsplit(settings.emulator_blob_endpoint)
        return f"{parts.scheme}://{parts.netloc}"
    if settings.storage_blob_endpoint:  # an explicit endpoint template ({account} in the host)
        parts = urlsplit(settings.storage_blob_endpoint.replace("{account}", "x"))
        host = (
            parts.netloc.replace("x.", "*.", 1) if parts.netloc.startswith("x.") else parts.netloc
        )
        return f"{parts.scheme}://{host}"
    return f"https://*.blob.{settings.storage_endpoint_suffix}"


def security_headers(settings: Settings) -> dict[str, str]:
    policy = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' {image_sources(settings)}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def _not_found(req: func.HttpRequest, headers: dict[str, str]) -> func.HttpResponse:
    return problem_response(
        404,
        "not_found",
        "Not found",
        "No such console file.",
        headers={**headers, "Cache-Control": "no-store"},
    )


@bp.route(route="console/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_boundary
def console_file(req: func.HttpRequest) -> func.HttpResponse:
    headers = security_headers(wiring().settings)
    path = req.route_params.get("path") or ""
    url_path = urlsplit(req.url).path
    if not path.strip("/") and not url_path.endswith("/"):
        # Relative module and style URLs resolve against ".../console/", not ".../".
        return func.HttpResponse(status_code=308, headers={**headers, "Location": url_path + "/"})
    found = resolve(path)
    if found is None:
        return _not_found(req, headers)
    static = load(found)
    headers.update({"ETag": static.etag, "Cache-Control": "no-cache"})
    if static.etag in (req.headers.get("If-None-Match") or ""):
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(
        static.body,
        status_code=200,
        headers=headers,
        mimetype=static.content_type,
        charset="utf-8",
    )
