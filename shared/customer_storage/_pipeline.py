"""Transport composition and retry profiles for customer-storage clients (``aio`` only).

The Blob SDK takes a ``transport=`` but no extra policies, so ``per_call_policies`` are run by a
transport wrapper: a small azure-core pipeline in front of the real transport. Those policies
see every attempt (after the retry policy, after signing), right before the wire, which is where
a fault injector or a request recorder belongs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any, Self

from azure.core.pipeline import AsyncPipeline
from azure.core.pipeline.policies import AsyncHTTPPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.storage.blob.aio import ExponentialRetry

from shared.customer_storage._errors import AccountNotFoundError, is_account_not_found

__all__ = [
    "AsyncInert",
    "MissingAccountTransport",
    "Policy",
    "PolicyTransport",
    "RetryProfile",
    "compose_transport",
    "retry_policy",
    "timeouts",
]

#: A policy run on every attempt right before the wire.
Policy = AsyncHTTPPolicy[Any, Any] | SansIOHTTPPolicy[Any, Any]


class RetryProfile(str, Enum):
    """How patient a client is. The Blob SDK's default (15 s, 18 s, 24 s) suits neither."""

    #: Background work (sync runs): 1 s doubling, 4 retries, 10 s connect / 20 s read (a run
    #: waits longer outages out with durable timers, so one request need not).
    BACKGROUND = "background"
    #: A person is waiting (test connection, preview): 1 retry, 5 s connect / 20 s read.
    INTERACTIVE = "interactive"
    #: A sync run's ranged reads of blob heads (a few KiB each): 4 retries after 0.25, 0.75,
    #: 1.25 and 2.25 s, 5 s connect / 2 s read. A read that stalls is cut short and tried again
    #: rather than holding its batch; listing keeps BACKGROUND's longer read timeout.
    READS = "reads"


@dataclass(frozen=True)
class _RetryShape:
    initial: float
    base: float
    total: int
    jitter: float
    connection_timeout: int
    read_timeout: int
    scale: float = 1.0


_SHAPES = {
    RetryProfile.BACKGROUND: _RetryShape(1.0, 2.0, 4, 0.5, 10, 20),
    RetryProfile.INTERACTIVE: _RetryShape(0.5, 2.0, 1, 0.25, 5, 20),
    RetryProfile.READS: _RetryShape(1.0, 2.0, 4, 0.5, 5, 2, scale=0.25),
}


def timeouts(profile: RetryProfile) -> dict[str, int]:
    shape = _SHAPES[profile]
    return {"connection_timeout": shape.connection_timeout, "read_timeout": shape.read_timeout}


def _backoff(shape: _RetryShape, count: int) -> float:
    """``initial`` then ``initial + base**count``, with jitter, times ``scale``: 1, 3, 5, 9 s for
    BACKGROUND, a quarter of that for READS."""
    backoff = shape.initial + (0 if count == 0 else shape.base**count)
    jittered = random.uniform(backoff - shape.jitter, backoff + shape.jitter)
    return max(0.0, shape.scale * jittered)


class _ShortRetry(ExponentialRetry):
    """Storage retry with fractional backoff; a host that does not exist is never retried."""

    def __init__(self, shape: _RetryShape) -> None:
        super().__init__(retry_total=shape.total, initial_backoff=0, increment_base=0)
        self._shape = shape

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return _backoff(self._shape, int(settings["count"]))

    def increment(
        self,
        settings: dict[str, Any],
        request: Any,
        response: Any = None,
        error: Any = None,
    ) -> bool:
        if error is not None and is_account_not_found(error):
            return False
        return bool(super().increment(settings, request, response, error))


def retry_policy(profile: RetryProfile) -> ExponentialRetry:
    return _ShortRetry(_SHAPES[profile])


# -- transports ---------------------------------------------------------------------------------


# Who builds a transport closes it: a wrapper opens nothing on ``async with`` and closes (on
# ``close()`` or leaving ``async with``) its inner transport only when it ``owns`` it.

_NO_ACCOUNT = "the storage account does not exist"


class AsyncInert:
    """An async resource whose ``async with`` ends in ``close()``, which does nothing here."""

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None = None,
        ev: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        await self.close()


class _InertTransport(AsyncInert, AsyncHttpTransport):  # type: ignore[type-arg]
    """``open``, ``close`` and ``async with`` do nothing."""

    async def open(self) -> None:
        pass


class _Wrapper(_InertTransport):
    """Opens and sleeps through ``inner``; closes it only when it ``owns`` it."""

    def __init__(
        self,
        inner: AsyncHttpTransport,  # type: ignore[type-arg]
        *,
        owns: bool = False,
    ) -> None:
        self._inner = inner
        self._owns = owns

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        if self._owns:
            await self._inner.close()

    async def sleep(self, duration: float) -> None:
        await self._inner.sleep(duration)


class PolicyTransport(_Wrapper):
    """Runs ``policies`` before ``inner``; closes ``inner`` only when it ``owns`` it."""

    def __init__(
        self,
        inner: AsyncHttpTransport,  # type: ignore[type-arg]
        policies: Sequence[Policy],
        *,
        owns: bool = False,
    ) -> None:
        super().__init__(inner, owns=owns)
        self._pipeline: AsyncPipeline[Any, Any] = AsyncPipeline(
            transport=_NonClosing(inner), policies=list(policies)
        )

    async def send(self, request: Any, **kwargs: Any) -> Any:
        return (await self._pipeline.run(request, **kwargs)).http_response


class _NonClosing(_Wrapper):
    """A shared transport: clients built on it may close, the transport stays open."""

    async def send(self, request: Any, **kwargs: Any) -> Any:
        return await self._inner.send(request, **kwargs)


class MissingAccountTransport(_InertTransport):
    """Every request fails as if the account's host name did not resolve (emulator mode, for an
    account that is not configured)."""

    async def send(self, request: Any, **kwargs: Any) -> Any:
        raise AccountNotFoundError(_NO_ACCOUNT)


def compose_transport(
    inner: AsyncHttpTransport,  # type: ignore[type-arg]
    policies: Sequence[Policy],
    *,
    owns: bool,
) -> AsyncHttpTransport:  # type: ignore[type-arg]
    """``inner`` behind ``policies``; a transport the caller owns is never closed by a client."""
    if policies:
        return PolicyTransport(inner, policies, owns=owns)
    return inner if owns else _NonClosing(inner)
