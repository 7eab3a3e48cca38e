"""A small synchronous client of the blob sync HTTP API: one method per route, JSON in, dicts out.

Errors come back as exceptions from :mod:`blobsync_cli.errors` (a 4xx problem is a
:class:`~blobsync_cli.errors.ClientError` carrying the RFC 9457 body). No presentation here.

Keys travel in the ``x-functions-key`` header only (never in the URL, so they cannot leak into
an error message or a log line).

Ids are the API's own: connection and run ids come back from the calls that create them, and an
asset's id from the asset list (:meth:`BlobSyncClient.find_asset`); the client never derives one.
It imports nothing from the service, so it installs on its own (``pip install .``).

Test seams: ``transport=`` (any httpx transport, e.g. one that calls the app in process) and
``event_hooks=`` (e.g. a check of every response against the OpenAPI contract);
:meth:`BlobSyncClient.request` sends one request and hands back whatever the service answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from blobsync_cli import __version__
from blobsync_cli.errors import ApiError, ServiceUnreachable

__all__ = ["DEFAULT_BASE_URL", "TERMINAL_STATUSES", "BlobSyncClient"]

#: The dev host's (and ``func start``'s) default address.
DEFAULT_BASE_URL = "http://127.0.0.1:7071"
#: Run statuses after which nothing changes any more.
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
KEY_HEADER = "x-functions-key"


def _seg(value: str) -> str:
    """One path segment, percent-encoded (an id can never add a path level)."""
    return quote(value, safe="")


def normalise_base_url(url: str) -> str:
    """``https://app.azurewebsites.net`` for any of ``.../``, ``.../api`` or ``.../api/``."""
    url = url.strip().rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


class BlobSyncClient:
    """The HTTP API of one function app (the dev host by default)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        function_key: str | None = None,
        admin_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self._function_key = function_key or None
        self._admin_key = admin_key or None
        self._http = httpx.Client(
            base_url=self.base_url + "/api",
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            transport=transport,
            headers={"User-Agent": f"blobsync-cli/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
            event_hooks=dict(event_hooks or {}),
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BlobSyncClient:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        admin: bool = False,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and return the answer whatever its status (the low-level call the
        route methods build on; tests use it for requests the API must refuse).

        ``url`` is relative to ``{base_url}/api`` (``"/orgs/acme"``) or absolute. The function
        key (the admin key with ``admin=True``) goes in ``x-functions-key``. No answer at all
        raises :class:`~blobsync_cli.errors.ServiceUnreachable`.
        """
        sent = dict(headers or {})
        key = (self._admin_key or self._function_key) if admin else self._function_key
        if key:
            sent[KEY_HEADER] = key
        try:
            return self._http.request(
                method, url, params=params or None, json=json, content=content, headers=sent
            )
        except httpx.TimeoutException:
            raise ServiceUnreachable(self.base_url, "the request timed out") from None
        except httpx.TransportError as exc:
            raise ServiceUnreachable(self.base_url, _transport_reason(exc)) from None

    def _request(
        self,
        method: str,
        path: str,
        *,
        admin: bool = False,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """:meth:`request`, with an error status raised as :class:`ApiError`."""
        response = self.request(
            method,
            path,
            admin=admin,
            params={k: v for k, v in (params or {}).items() if v not in (None, "")},
            json=body,
        )
        if response.is_redirect:
            target = response.headers.get("Location", "").split("?", 1)[0]
            raise ApiError.from_status(
                response.status_code,
                {
                    "title": "Redirected",
                    "status": response.status_code,
                    "detail": f"the service redirects to {target or 'another URL'}; "
                    "use that address as --base-url (https for Azure)",
                    "code": "redirected",
                },
                method=method,
                path="/api" + path,
            )
        if response.status_code >= 400:
            raise ApiError.from_status(
                response.status_code,
                _problem_body(response),
                method=method,
                path="/api" + path,
                correlation_id=response.headers.get("X-Correlation-Id"),
            )
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, **kwargs)
        try:
            value = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError.from_status(
                502,
                {
                    "title": "Unexpected answer",
                    "status": 502,
                    "detail": f"{method} /api{path} answered {response.status_code} without JSON",
                    "code": "not_json",
                },
                method=method,
                path="/api" + path,
            ) from None
        return value if isinstance(value, dict) else {"items": value}

    # -- service -----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    # -- organisations -----------------------------------------------------------------------
    def put_org(self, org: str, *, plan: str, monthly_quota: int | None = None) -> dict[str, Any]:
        """Create or update an organisation (an admin route: uses the admin key when given)."""
        body: dict[str, Any] = {"plan": plan}
        if monthly_quota is not None:
            body["monthlyQuota"] = monthly_quota
        return self._json("PUT", f"/orgs/{_seg(org)}", admin=True, body=body)

    def get_usage(self, org: str) -> dict[str, Any]:
        return self._json("GET", f"/orgs/{_seg(org)}/usage")

    # -- connections -------------------------------------------------------------------------
    def _conn(self, org: str, connection: str) -> str:
        return f"/orgs/{_seg(org)}/connections/{_seg(connection)}"

    def create_connection(
        self,
        org: str,
        *,
        dataset: str,
        name: str,
        storage_account: str,
        container: str,
        prefix: str | None = None,
    ) -> dict[str, Any]:
        """Wizard step 1: ``{"connection": {...}, "setup": {...}}``."""
        body: dict[str, Any] = {
            "dataset": dataset,
            "name": name,
            "storageAccount": storage_account,
            "container": container,
        }
        if prefix:
            body["prefix"] = prefix
        return self._json("POST", f"/orgs/{_seg(org)}/connections", body=body)

    def list_connections(self, org: str, *, dataset: str | None = None) -> dict[str, Any]:
        params = {"dataset": dataset} if dataset else None
        return self._json("GET", f"/orgs/{_seg(org)}/connections", params=params)

    def get_connection(self, org: str, connection: str) -> dict[str, Any]:
        return self._json("GET", self._conn(org, connection))

    def update_connection(
        self, org: str, connection: str, *, name: str | None = None, prefix: str | None = None
    ) -> dict[str, Any]:
        """Rename and/or re-scope (a new prefix); ``None`` leaves a field as it is."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if prefix is not None:
            body["prefix"] = prefix
        return self._json("PATCH", self._conn(org, connection), body=body)

    def delete_connection(self, org: str, connection: str) -> None:
        self._request("DELETE", self._conn(org, connection))

    def put_schedule(self, org: str, connection: str, schedule: dict[str, Any]) -> dict[str, Any]:
        return self._json("PUT", self._conn(org, connection) + "/schedule", body=schedule)

    def get_setup(self, org: str, connection: str) -> dict[str, Any]:
        return self._json("GET", self._conn(org, connection) + "/setup")

    def test_connection(self, org: str, connection: str) -> dict[str, Any]:
        return self._json("POST", self._conn(org, connection) + "/test")

    def preview(self, org: str, connection: str) -> dict[str, Any]:
        return self._json("POST", self._conn(org, connection) + "/preview")

    # -- syncs -------------------------------------------------------------------------------
    def start_sync(self, org: str, connection: str) -> dict[str, Any]:
        return self._json("POST", self._conn(org, connection) + "/syncs")

    def list_syncs(self, org: str, connection: str) -> dict[str, Any]:
        return self._json("GET", self._conn(org, connection) + "/syncs")

    def latest_run_id(self, org: str, connection: str) -> str | None:
        """The newest run of the connection, or None when it never ran."""
        items = self.list_syncs(org, connection).get("items") or []
        return str(items[0]["runId"]) if items else None

    def get_sync(self, org: str, connection: str, run: str) -> dict[str, Any]:
        return self._json("GET", self._conn(org, connection) + f"/syncs/{_seg(run)}")

    def cancel_sync(self, org: str, connection: str, run: str) -> dict[str, Any]:
        return self._json("POST", self._conn(org, connection) + f"/syncs/{_seg(run)}/cancel")

    # -- assets ------------------------------------------------------------------------------
    def list_assets(
        self,
        org: str,
        connection: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        page_size: int | None = None,
        continuation_token: str | None = None,
    ) -> dict[str, Any]:
        """One page: ``{"items": [...], "continuationToken": str | None}``."""
        params = {
            "status": status or "",
            "reason": reason or "",
            "pageSize": str(page_size) if page_size else "",
            "continuationToken": continuation_token or "",
        }
        return self._json("GET", self._conn(org, connection) + "/assets", params=params)

    def iter_assets(
        self,
        org: str,
        connection: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        page_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Every matching asset, following continuation tokens page by page."""
        token: str | None = None
        while True:
            page = self.list_assets(
                org,
                connection,
                status=status,
                reason=reason,
                page_size=page_size,
                continuation_token=token,
            )
            yield from page.get("items") or []
            token = page.get("continuationToken") or None
            if not token:
                return

    def find_asset(self, org: str, connection: str, name: str) -> dict[str, Any] | None:
        """The asset list's entry for the blob ``name`` (its ``id`` is the asset id), or None.

        The API has no lookup by name, so this walks the list page by page until it finds it.
        """
        for item in self.iter_assets(org, connection, page_size=1000):
            if item.get("name") == name:
                return item
        return None

    def get_asset_url(self, org: str, connection: str, asset: str) -> dict[str, Any]:
        """A short-lived read URL for one blob, by its asset id (``id`` in the asset list; it
        carries a SAS: show it only when asked)."""
        return self._json("GET", self._conn(org, connection) + f"/assets/{_seg(asset)}/url")


def _problem_body(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        value = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and ("code" in value or "title" in value) else None


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host not found (is the function app running?)"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "the URL must start with http:// or https://"
    return type(exc).__name__
