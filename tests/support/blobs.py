"""Throw-away containers in a customer's account, for tests that need blobs to look at."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from azure.storage.blob import BlobServiceClient

#: ``make(blobs)``: a new uniquely named container holding ``blobs``; returns its name.
MakeContainer = Callable[[dict[str, bytes]], str]


@contextmanager
def container_factory(service: BlobServiceClient) -> Iterator[MakeContainer]:
    """A :data:`MakeContainer` on ``service``; every container it made is deleted on exit."""
    created: list[str] = []

    def make(blobs: dict[str, bytes]) -> str:
        name = "c" + uuid.uuid4().hex[:16]
        container = service.create_container(name)
        created.append(name)
        for blob, data in blobs.items():
            container.upload_blob(blob, data)
        return name

    yield make
    for name in created:
        service.delete_container(name)
