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
from typing import Any, Protocol

from azure.core.rest import HttpRequest

__all__ = ["BodySink", "RawResponse", "raw_get"]

#: Attempts at reading a body whose connection broke mid-way.
BODY_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class BodySink(Protocol):
    """Takes a successful response's body as it arrives, instead of holding it whole."""

    def reset(self) -> None:
        """Forget what was fed: the body is read again from its start."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> None:
        """The body is complete."""


class _SinkRefused(Exception):
    """The sink refused the body (not a read failure: nothing to try again)."""


def _to_sink(step: Any, *args: Any) -> None:
    try:
        step(*args)
    except Exception as exc:
        raise _SinkRefused from exc


async def raw_get(
    client: Any, url: str, headers: dict[str, str], sink: BodySink | None = None
) -> RawResponse:
    """``GET url`` through ``client``'s pipeline (its ``_pipeline``, as the SDK's own calls).
    With a ``sink``, a 200 response's body goes to it as it arrives (``body`` is then empty)."""
    pipeline: Any = client._pipeline
    for attempt in range(1, BODY_ATTEMPTS + 1):
        response = (
            await pipeline.run(HttpRequest("GET", url, headers=headers), stream=True)
        ).http_response
        try:
            body: bytes = b""
            if sink is not None and response.status_code == 200:
                sink.reset()
                async for chunk in response.iter_bytes():
                    _to_sink(sink.feed, chunk)
                _to_sink(sink.finish)
            else:
                body = await response.read()
        except asyncio.CancelledError:
            raise
        except _SinkRefused as refused:
            raise refused.__cause__ from None  # type: ignore[misc]
        except Exception:
            if attempt == BODY_ATTEMPTS:
                raise
            await asyncio.sleep(0.25 * attempt)
            continue
        finally:
            await response.close()
        return RawResponse(response.status_code, response.headers, body)
    raise AssertionError("unreachable")
