from __future__ import annotations

from azure.storage.blob import ContainerClient

import mediagen
from tests.sync.harness import Api


def test_small_sync(api: Api, container: ContainerClient, unique_name: str) -> None:
    for name, data in [
        ("a/ok.jpg", mediagen.jpeg(64, 48)),
        ("a/rot.jpg", mediagen.jpeg(64, 48, orientation=6)),
        ("notes.txt", b"hello"),
    ]:
        container.upload_blob(name, data)
    org = f"org-{unique_name}"
    api.put_org(org)
    conn = api.connect(org, account="contosomedia", container=container.container_name)
    view = api.sync(org, conn)
    print(view)
    assert view["status"] == "completed"
    assert view["counts"]["synced"] == 1
