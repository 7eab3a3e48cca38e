"""GET /api/health: whether the metadata store and the Durable task hub answer.

Anonymous (availability tests and load balancers call it), so it says only what is safe: an
overall status and one word per dependency - no names, endpoints, versions or error text.
200 when both answer, 503 otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import azure.durable_functions as df
import azure.functions as func

from api.http import http_boundary, json_response
from shared.store import Store
from shared.wiring import wiring

bp = df.Blueprint()

#: An instance id no run uses: asking for its status makes the host read the task hub.
PROBE_INSTANCE = "health-probe"
PROBE_TIMEOUT_SECONDS = 10


async def task_hub_reachable(client: Any) -> bool:
    """True when the host's Durable management API answers a status query from the task hub
    (404 for the probe instance is an answer; a 5xx, a timeout or a refused connection is not)."""
    url = client.get_client_response_links(None, PROBE_INSTANCE)["statusQueryGetUri"]
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            return response.status < 500
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def health(*, store: Store, client: Any) -> tuple[int, dict[str, object]]:
    store_ok, hub = await asyncio.gather(asyncio.to_thread(store.ping), task_hub_reachable(client))
    body: dict[str, object] = {
        "status": "ok" if store_ok and hub else "degraded",
        "metadataStore": "reachable" if store_ok else "unreachable",
        "taskHub": "reachable" if hub else "unreachable",
    }
    return (200 if store_ok and hub else 503), body


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@http_boundary
async def get_health(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    status, body = await health(store=wiring().store, client=client)
    headers = {"Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = "10"
    return json_response(body, status=status, headers=headers)
