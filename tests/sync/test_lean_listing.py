"""The lean listing (``shared.customer_storage.list_blobs_page``) reads the same pages as the
SDK's ``list_blobs``: names (odd characters included), etags, sizes, content types, dates and
markers; a missing container fails with the SDK's own error."""

from __future__ import annotations

import asyncio

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings
from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

from devhost.azurite import EmulatorAccount
from shared.customer_storage import ListedBlob, list_blobs_page
from shared.customer_storage._listing import PageParser, parse_list_level

NAMES = [
    "plain.jpg",
    "with space/and+plus%25.png",
    "ünïcödé/名前.jpg",
    "amp&lt;/x.txt",
    *[f"deep/{i % 3}/{i:03d}.jpg" for i in range(25)],
]


async def _sdk(cc: AsyncContainerClient, prefix: str | None) -> list[ListedBlob]:
    return [
        ListedBlob(
            name=b.name,
            etag=str(b.etag).strip('"'),
            size=int(b.size),
            content_type=b.content_settings.content_type,
            last_modified=b.last_modified,
        )
        async for b in cc.list_blobs(name_starts_with=prefix)
    ]


async def _lean(cc: AsyncContainerClient, prefix: str | None, page: int) -> list[ListedBlob]:
    out: list[ListedBlob] = []
    marker: str | None = None
    while True:
        items, marker = await list_blobs_page(cc, prefix=prefix, page_size=page, marker=marker)
        out += items
        assert len(items) <= page
        if marker is None:
            return out


@pytest.mark.parametrize("prefix", [None, "deep/1/", "with space/"])
def test_lean_pages_equal_the_sdk_listing(
    customer_account: EmulatorAccount, container: ContainerClient, prefix: str | None
) -> None:
    for i, name in enumerate(NAMES):
        kind = "image/png" if name.endswith(".png") else None
        container.upload_blob(
            name, b"x" * (i + 1), content_settings=ContentSettings(content_type=kind)
        )

    async def both() -> tuple[list[ListedBlob], list[ListedBlob]]:
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, container.container_name
        ) as cc:
            return await _sdk(cc, prefix), await _lean(cc, prefix, page=4)

    sdk, lean = asyncio.run(both())
    assert lean == sdk
    assert len(lean) == sum(1 for n in NAMES if n.startswith(prefix or ""))
    assert any(b.content_type == "image/png" for b in lean) == (prefix in (None, "with space/"))


def test_a_missing_container_fails_as_the_sdk_does(customer_account: EmulatorAccount) -> None:
    async def listing() -> None:
        async with AsyncContainerClient.from_connection_string(
            customer_account.connection_string, "no-such-container"
        ) as cc:
            await list_blobs_page(cc, prefix=None, page_size=10, marker=None)

    with pytest.raises(ResourceNotFoundError) as caught:
        asyncio.run(listing())
    assert caught.value.error_code == "ContainerNotFound"


BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="c">'
    b"<Prefix>a/</Prefix><Delimiter>/</Delimiter><Blobs>"
    b"<Blob><Name>a/x &amp; y.jpg</Name><Properties><Last-Modified>Sun, 29 Nov 2026 10:31:00 GMT"
    b"</Last-Modified><Etag>0x8D1</Etag><Content-Length>12</Content-Length>"
    b"<Content-Type /></Properties></Blob>"
    b"<BlobPrefix><Name>a/b&lt;c/</Name></BlobPrefix>"
    b'<Blob><Name Encoded="true">a/%01odd.png</Name><Properties><Etag>"0x8D2"</Etag>'
    b"<Content-Length>7</Content-Length><Content-Type>image/png</Content-Type>"
    b"<Content-MD5>abc==</Content-MD5></Properties><Metadata /></Blob>"
    b'<BlobPrefix><Name Encoded="true">a/%02dir/</Name></BlobPrefix>'
    b"</Blobs><NextMarker>2!a&amp;b</NextMarker></EnumerationResults>"
)


def test_the_byte_parser_reads_encoded_names_folders_and_markers() -> None:
    body = BODY
    blobs, folders, marker = parse_list_level(body)
    assert [(b.name, b.etag, b.size, b.content_type) for b in blobs] == [
        ("a/x & y.jpg", "0x8D1", 12, None),
        ("a/\x01odd.png", "0x8D2", 7, "image/png"),
    ]
    assert blobs[0].last_modified is not None and blobs[0].last_modified.year == 2026
    assert blobs[1].last_modified is None
    assert folders == ["a/b<c/", "a/\x02dir/"]
    assert marker == "2!a&b"
    end = body.replace(b"<NextMarker>2!a&amp;b</NextMarker>", b"<NextMarker />")
    assert parse_list_level(end)[2] is None
    with pytest.raises(ValueError, match="List Blobs"):
        parse_list_level(b"<html>a proxy's error page</html>")


@pytest.mark.parametrize("chunk", [1, 5, 64, 4096])
def test_a_body_parsed_as_it_arrives_reads_the_same_page(chunk: int) -> None:
    # Many blobs and folders, parsed in small segments: elements cut anywhere between chunks.
    entries = b"".join(BODY.split(b"<Blobs>")[1].split(b"</Blobs>")[0] for _ in range(40))
    body = (
        BODY.split(b"<Blobs>")[0] + b"<Blobs>" + entries + b"</Blobs>" + BODY.split(b"</Blobs>")[1]
    )
    whole = parse_list_level(body)
    assert len(whole[0]) == 80 and len(whole[1]) == 80

    page = PageParser()
    page.SEGMENT = 300
    page.feed(b"garbage from a broken first attempt")
    page.reset()
    for at in range(0, len(body), chunk):
        page.feed(body[at : at + chunk])
    page.finish()

    assert (page.blobs, page.folders, page.marker) == whole
    truncated = PageParser()
    truncated.feed(body[: len(body) // 2])
    with pytest.raises(ValueError, match="truncated"):
        truncated.finish()
