"""Transport composition and retry profiles for customer-storage clients.

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
from typing import Any

from azure.core.pipeline import AsyncPipeline, Pipeline
from azure.core.pipeline.policies import (
    AsyncHTTPPolicy,
    HTTPPolicy,
    SansIOHTTPPolicy,
)
from azure.core.pipeline.transport import AsyncHttpTransport, HttpTransport
from azure.storage.blob import ExponentialRetry
from azure.storage.blob.aio import ExponentialRetry as AsyncExponentialRetry

from shared.customer_storage._errors import AccountNotFoundError, is_account_not_found

__all__ = [
    "AsyncMissingAccountTransport",
    "AsyncPolicy",
    "AsyncPolicyTransport",
    "MissingAccountTransport",
    "Policy",
    "PolicyTransport",
    "RetryProfile",
    "async_compose_transport",
    "async_retry_policy",
    "compose_transport",
    "retry_policy",
    "timeouts",
]

Policy = HTTPPolicy[Any, Any] | SansIOHTTPPolicy[Any, Any]
AsyncPolicy = AsyncHTTPPolicy[Any, Any] | SansIOHTTPPolicy[Any, Any]


class RetryProfile(str, Enum):
    """How patient a client is. The Blob SDK's default (15 s, 18 s, 24 s) suits neither."""

    #: Background work (sync runs): 1 s doubling, 5 retries, 20 s connect / 60 s read.
    BACKGROUND = "background"
    #: A person is waiting (test connection, preview): 1 retry, 5 s connect / 20 s read.
    INTERACTIVE = "interactive"


@dataclass(frozen=True)
class _RetryShape:
    initial: float
    base: float
    total: int
    jitter: float
    connection_timeout: int
    read_timeout: int


_SHAPES = {
    RetryProfile.BACKGROUND: _RetryShape(1.0, 2.0, 5, 0.5, 20, 60),
    RetryProfile.INTERACTIVE: _RetryShape(0.5, 2.0, 1, 0.25, 5, 20),
}


def timeouts(profile: RetryProfile) -> dict[str, int]:
    shape = _SHAPES[profile]
    return {"connection_timeout": shape.connection_timeout, "read_timeout": shape.read_timeout}


def _backoff(shape: _RetryShape, count: int) -> float:
    """``initial`` then ``initial + base**count``, with jitter: 1, 3, 5, 9, 17 s for BACKGROUND."""
    backoff = shape.initial + (0 if count == 0 else shape.base**count)
    return max(0.0, random.uniform(backoff - shape.jitter, backoff + shape.jitter))


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


class _AsyncShortRetry(AsyncExponentialRetry):
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


def async_retry_policy(profile: RetryProfile) -> AsyncExponentialRetry:
    return _AsyncShortRetry(_SHAPES[profile])


# -- transports ---------------------------------------------------------------------------------


class PolicyTransport(HttpTransport):  # type: ignore[type-arg]
    """Runs ``policies`` before ``inner``; closes ``inner`` only when it ``owns`` it."""

    def __init__(
        self,
        inner: HttpTransport,  # type: ignore[type-arg]
        policies: Sequence[Policy],
        *,
        owns: bool = False,
    ) -> None:
        self._inner = inner
        self._owns = owns
        self._pipeline: Pipeline[Any, Any] = Pipeline(
            transport=_NonClosing(inner), policies=list(policies)
        )

    def send(self, request: Any, **kwargs: Any) -> Any:
        return self._pipeline.run(request, **kwargs).http_response

    def open(self) -> None:
        self._inner.open()

    def close(self) -> None:
        if self._owns:
            self._inner.close()

    def sleep(self, duration: float) -> None:
        self._inner.sleep(duration)

    def __enter__(self) -> PolicyTransport:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None = None,
        ev: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        pass


class _NonClosing(HttpTransport):  # type: ignore[type-arg]
    """A shared transport: clients built on it may close, the transport stays open."""

    def __init__(self, inner: HttpTransport) -> None:  # type: ignore[type-arg]
        self._inner = inner

    def send(self, request: Any, **kwargs: Any) -> Any:
        return self._inner.send(request, **kwargs)

    def open(self) -> None:
        self._inner.open()

    def close(self) -> None:
        pass

    def sleep(self, duration: float) -> None:
        self._inner.sleep(duration)

    def __enter__(self) -> _NonClosing:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None = None,
        ev: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        pass


def compose_transport(
    inner: HttpTransport,  # type: ignore[type-arg]
    policies: Sequence[Policy],
    *,
    owns: bool,
) -> HttpTransport:  # type: ignore[type-arg]
    """``inner`` behind ``policies``; a transport the caller owns is never closed by a client."""
    if policies:
        return PolicyTransport(inner, policies, owns=owns)
    return inner if owns else _NonClosing(inner)


class AsyncPolicyTransport(AsyncHttpTransport):  # type: ignore[type-arg]
    def __init__(
        self,
        inner: AsyncHttpTransport,  # type: ignore[type-arg]
        policies: Sequence[AsyncPolicy],
        *,
        owns: bool = False,
    ) -> None:
        self._inner = inner
        self._owns = owns
        self._pipeline: AsyncPipeline[Any, Any] = AsyncPipeline(
            transport=_AsyncNonClosing(inner), policies=list(policies)
        )

    async def send(self, request: Any, **kwargs: Any) -> Any:
        return (await self._pipeline.run(request, **kwargs)).http_response

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        if self._owns:
            await self._inner.close()

    async def sleep(self, duration: float) -> None:
        await self._inner.sleep(duration)

    async def __aenter__(self) -> AsyncPolicyTransport:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None = None,
        ev: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        pass


class _AsyncNonClosing(AsyncHttpTransport):  # type: ignore[type-arg]
    def __init__(self, inner: AsyncHttpTransport) -> None:  # type: ignore[type-arg]
        self._inner = inner

    async def send(self, request: Any, **kwargs: Any) -> Any:
        return await self._inner.send(request, **kwargs)

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        pass

    async def sleep(self, duration: float) -> None:
        await self._inner.sleep(duration)

    async def __aenter__(self) -> _AsyncNonClosing:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None = None,
        ev: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        pass


def async_compose_transport(
    inner: AsyncHttpTransport,  # type: ignore[type-arg]
    policies: Sequence[AsyncPolicy],
    *,
    owns: bool,
) -> AsyncHttpTransport:  # type: ignore[type-arg]
    if policies:
        return AsyncPolicyTransport(inner, policies, owns=owns)
    return inner if owns else _AsyncNonClosing(inner)


class MissingAccountTransport(HttpTransport):  # type: ignore[type-arg]
    """Every request fails as if the account's host name did not resolve (emulator mode, for an
    account that is not configured)."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        raise AccountNotFoundError("the storage account does not exist")

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> MissingAccountTransport:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None = None,
        ev: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        pass


class AsyncMissingAccountTransport(AsyncHttpTransport):  # type: ignore[type-arg]
    async def send(self, request: Any, **kwargs: Any) -> Any:
        raise AccountNotFoundError("the storage account does not exist")

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncMissingAccountTransport:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None = None,
        ev: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        pass
