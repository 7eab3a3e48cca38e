"""One plain request through a client's own pipeline, its body read as bytes.

The lean listing and the ranged head reads send their requests through the pipeline of the
``aio`` container client they are given: its credential, signing, retry policy, timeouts and
per-call policies, unchanged. The response is taken as a stream, so azure-core's content
decoder does not parse a List Blobs body into an element tree the caller never uses (nor
refuse a blob's bytes as undecodable); the body is then read here, and a connection that
breaks while the body is read (after the retry policy has let the response through) is tried
again, like the SDK's own downloads do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.rest import HttpRequest

__all__ = ["RawResponse", "raw_get"]

#: Attempts at reading a body whose connection broke mid-way.
BODY_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


async def raw_get(client: Any, url: str, headers: dict[str, str]) -> RawResponse:
    """``GET url`` through ``client``'s pipeline (its ``_pipeline``, as the SDK's own calls)."""
    pipeline: Any = client._pipeline
    for attempt in range(1, BODY_ATTEMPTS + 1):
        response = (
            await pipeline.run(HttpRequest("GET", url, headers=headers), stream=True)
        ).http_response
        try:
            body: bytes = await response.read()
        except asyncio.CancelledError:
            raise
        except Exception:
            if attempt == BODY_ATTEMPTS:
                raise
            await asyncio.sleep(0.25 * attempt)
            continue
        finally:
            await response.close()
        return RawResponse(response.status_code, response.headers, body)
    raise AssertionError("unreachable")
