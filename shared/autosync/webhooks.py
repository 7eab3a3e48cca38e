"""The run-end webhook: a signed JSON summary POSTed to the connection's URL when a run ends.

Signature: ``X-Blobsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
(the receiver recomputes it over the raw body and rejects a ``t`` older than a few minutes).
``X-Blobsync-Delivery`` is the run id (the same on every retry: deduplicate on it). Retries with
doubling backoff run in a durable orchestration, so they survive restarts; every attempt is
recorded in ``WebhookDeliveries``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from shared.autosync.store import AutosyncRepository
from shared.errors import FieldError, ValidationError
from shared.store import Connection
from shared.store.runs import RunRecord

__all__ = [
    "attempt_delivery",
    "new_secret",
    "run_payload",
    "sign",
    "validate_url",
    "webhook_instance",
]

_log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Blobsync-Signature"
DELIVERY_HEADER = "X-Blobsync-Delivery"
_LOOPBACK_HOSTS = {"localhost"}


def webhook_instance(connection_id: str, run_id: str) -> str:
    return f"webhook-{connection_id}-{run_id}"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_url(url: Any, *, allow_loopback: bool) -> str:
    """https only (loopback http only when the setting allows it); no credentials in the URL."""

    def bad(message: str) -> ValidationError:
        return ValidationError([FieldError("url", "invalid_url", message)])

    if not isinstance(url, str) or not 8 <= len(url) <= 2000:
        raise bad("an https URL of at most 2000 characters")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password or parts.fragment:
        raise bad("an https URL with a host, without credentials or fragment")
    if parts.scheme == "https":
        if _loopback(host) and not allow_loopback:
            raise bad("a public https URL")
        return url
    if parts.scheme == "http" and allow_loopback and _loopback(host):
        return url
    raise bad("the URL must use https")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def run_payload(connection: Connection, record: RunRecord) -> dict[str, Any]:
    c = record.counters
    return {
        "type": "blobsync.run.ended",
        "org": record.org,
        "connectionId": record.connection_id,
        "connectionName": connection.name,
        "runId": record.run_id,
        "trigger": record.trigger,
        "status": record.status.value,
        "startedAt": record.started_at.isoformat(),
        "finishedAt": record.finished_at.isoformat() if record.finished_at else None,
        "counts": {
            "synced": c["synced"],
            "added": c["added"],
            "updated": c["updated"],
            "skipped": c["skipped"],
            "skippedByReason": c["skippedByReason"],
            "ignored": c["ignored"],
            "removed": c["removed"],
            "unchanged": c["unchanged"],
            "failed": c["failed"],
        },
        "error": record.error,
    }


def _retryable(status: int | None) -> bool:
    return status is None or status in (408, 425, 429) or status >= 500


async def attempt_delivery(
    *,
    url: str,
    secret: str,
    payload: dict[str, Any],
    attempt: int,
    max_attempts: int,
    repo: AutosyncRepository,
    timeout_seconds: float = 10.0,
) -> dict[str, Any]:
    """One POST. Returns ``{"done": bool, "status": int | None}``; ``done`` is False only
    when a retry may help (network error, 408/425/429, 5xx) and attempts remain."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "blobsync-webhook/1",
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
        DELIVERY_HEADER: str(payload["runId"]),
        "X-Blobsync-Attempt": str(attempt),
    }
    status: int | None = None
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        _log.info(
            "webhook attempt %d for run %s failed: %s",
            attempt,
            payload["runId"],
            type(exc).__name__,
        )
    ok = status is not None and 200 <= status < 300
    retry = not ok and _retryable(status) and attempt < max_attempts
    outcome = "delivered" if ok else ("retrying" if retry else "failed")
    await asyncio.to_thread(
        repo.record_delivery,
        str(payload["connectionId"]),
        str(payload["runId"]),
        attempt=attempt,
        status=status,
        outcome=outcome,
    )
    return {"done": not retry, "status": status, "outcome": outcome}
