"""Preview: counts by kind, sample paths, data-row cost against the quota, bounded scans."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from shared import wiring
from shared.preview import MediaKind, kind_of, preview_connection, scan_listing
from tests.api.client import ApiClient
from tests.api.conftest import MakeContainer

NewConnection = Callable[..., dict[str, Any]]


def preview(client: ApiClient, org: str, connection_id: str) -> Any:
    return client.post(f"/api/orgs/{org}/connections/{connection_id}/preview")


def test_counts_sample_and_cost(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    blobs = {f"set/img-{i:02d}.JPG": b"x" for i in range(12)}
    blobs.update({f"set/clip-{i}.mp4": b"v" for i in range(3)})
    blobs.update({"set/readme.txt": b"t", "set/labels.json": b"{}", "outside/x.jpg": b"x"})
    connection = new_connection(make_container(blobs), prefix="set/")
    response = preview(client, paid_org, connection["id"])
    assert response.status == 200
    report = response.json
    assert report["counts"] == {"image": 12, "video": 3, "other": 2, "total": 17}
    assert (report["complete"], report["stoppedBy"], report["scanned"]) == (True, None, 17)
    assert report["summary"].startswith("17 file(s)")
    assert report["classifiedBy"] == "extension"
    assert "does not read blob contents" in report["note"]
    names = [s["name"] for s in report["sample"]]
    assert all(n.startswith("set/") for n in names)
    assert names[:10] == sorted(names[:10])  # the first paths, in listing order
    assert len(names) == len(set(names)) == 17  # small listings are shown whole
    assert report["dataRows"] == {
        "perImage": 5,
        "perVideo": 5,
        "estimated": 75,
        "isLowerBound": False,
    }
    assert report["quota"]["remaining"] == 1000 and report["quota"]["sufficient"] is True


def test_quota_that_does_not_cover_the_sync(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    connection = new_connection(make_container({f"{i}.png": b"x" for i in range(30)}))
    client.put(f"/api/orgs/{paid_org}", json={"plan": "paid", "monthlyQuota": 200})
    month = client.get(f"/api/orgs/{paid_org}/usage").json["month"]
    wiring.wiring().usage.charge(paid_org, month, key="setup", costs=[60], limit=200)
    quota = preview(client, paid_org, connection["id"]).json["quota"]
    assert quota == {
        "month": month,
        "used": 60,
        "limit": 200,
        "remaining": 140,
        "sufficient": False,
    }


def test_huge_listing_stops_at_the_blob_limit(
    client: ApiClient,
    api_env: pytest.MonkeyPatch,
    paid_org: str,
    blob_service: BlobServiceClient,
    make_container: MakeContainer,
    new_connection: NewConnection,
) -> None:
    api_env.setenv("PREVIEW_MAX_BLOBS", "100")
    wiring.reset()
    name = make_container({})
    container = blob_service.get_container_client(name)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: container.upload_blob(f"f/{i:04d}.jpg", b"x"), range(130)))
    connection = new_connection(name)
    report = preview(client, paid_org, connection["id"]).json
    assert (report["complete"], report["stoppedBy"], report["scanned"]) == (False, "max_blobs", 100)
    assert report["summary"].startswith("at least 100 file(s)")
    assert report["dataRows"]["isLowerBound"] is True
    assert report["quota"]["sufficient"] is None  # 500 rows fit, but the rest is unknown
    sample = [s["name"] for s in report["sample"]]
    assert len(sample) == 20
    assert sample[:10] == [f"f/{i:04d}.jpg" for i in range(10)]
    assert max(sample) >= "f/0080.jpg"  # the spread reaches deep into the listing


def test_time_budget_stops_the_scan(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    connection = new_connection(make_container({f"{i:02d}.mp4": b"x" for i in range(25)}))
    ticks = iter(range(0, 10_000, 30))  # every clock reading is 30 s later

    report = asyncio.run(
        preview_connection(
            paid_org,
            str(connection["id"]),
            orgs=wiring.wiring().orgs,
            connections=wiring.wiring().connections,
            usage=wiring.wiring().usage,
            storage=wiring.wiring().storage,
            settings=wiring.wiring().settings,
            page_size=10,
            clock=lambda: float(next(ticks)),
        )
    )
    assert (report["complete"], report["stoppedBy"]) == (False, "time_budget")
    assert report["scanned"] == 20  # two pages fit in the 60 s budget
    assert report["counts"]["video"] == 20


def test_storage_refusal_is_a_424_naming_the_cause(
    client: ApiClient, paid_org: str, new_connection: NewConnection
) -> None:
    response = preview(client, paid_org, new_connection("no-such-container")["id"])
    assert response.status == 424
    assert response.json["code"] == "container_not_found"


def test_the_sync_engine_gets_the_last_preview_total(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    connection = new_connection(make_container({"a.jpg": b"x", "b.jpg": b"y"}))
    preview(client, paid_org, connection["id"])
    row = wiring.wiring().connections.get(paid_org, str(connection["id"]))
    assert row.last_preview_total == 2


@dataclass(frozen=True)
class FakeBlob:
    name: str
    size: int = 1


async def _listing(pages: list[list[FakeBlob]]) -> AsyncIterator[AsyncIterator[FakeBlob]]:
    """Pages as the aio SDK's pager hands them out."""

    async def page(items: list[FakeBlob]) -> AsyncIterator[FakeBlob]:
        for item in items:
            yield item

    for items in pages:
        yield page(items)


def test_spread_sample_is_bounded_and_even() -> None:
    pages = [[FakeBlob(f"{p:03d}{i:03d}.jpg") for i in range(1000)] for p in range(10)]
    result = asyncio.run(scan_listing(_listing(pages), max_blobs=10**6, time_budget=1e9))
    assert result.complete and result.scanned == 10_000
    assert [s["name"] for s in result.first] == [f"000{i:03d}.jpg" for i in range(10)]
    spread = [s["name"] for s in result.spread]
    assert len(spread) == 10 and spread == sorted(spread)
    assert spread[-1] >= "008000.jpg"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a/b/photo.JPEG", MediaKind.IMAGE),
        ("x.webp", MediaKind.IMAGE),
        ("clip.MOV", MediaKind.VIDEO),
        ("movie.mkv", MediaKind.VIDEO),
        ("notes.txt", MediaKind.OTHER),
        ("folder.jpg/readme", MediaKind.OTHER),
        (".jpg", MediaKind.OTHER),
        ("noext", MediaKind.OTHER),
    ],
)
def test_kind_by_extension(name: str, kind: MediaKind) -> None:
    assert kind_of(name) is kind
