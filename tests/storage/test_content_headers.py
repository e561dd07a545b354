"""Content a browser could execute (HTML, SVG, PDF...) is served sandboxed, unsniffable and as an
attachment; images, video and audio are served inline, unsniffable. One rule
(`core.storage.serving`) for both backends:

- local storage, through the real apps over HTTP: a signed upload PUT to the admin API, then
  the download from the device edge;
- S3 (moto over HTTP): the presigned PUT signs `Content-Disposition: attachment`, so the
  object is stored with it, and so is every server-side write.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aioboto3
import httpx
import pytest

from core.config import Settings
from core.storage import LocalStorage, S3Storage, content_object_key
from core.storage.serving import is_passive_media
from device_edge.app import create_app as create_edge
from graphql_api.app import create_app as create_api
from tests.storage.conftest import S3_PART_SIZE, SettingsFactory

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
HTML = b"<!doctype html><script>fetch('/v1/device/plan')</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n"

ACTIVE = [("text/html", HTML), ("image/svg+xml", SVG), ("application/pdf", PDF)]
PASSIVE = [("image/png", PNG), ("video/mp4", b"\x00\x00\x00\x18ftypmp42")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@pytest.fixture
async def edge(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_edge(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as client:
        yield client


async def upload_locally(
    api: httpx.AsyncClient, storage: LocalStorage, mime: str, data: bytes
) -> str:
    """The console's path: a signed upload URL for the declared mime, then the PUT."""
    key = content_object_key(uuid.uuid4(), sha(data), mime)
    # Without Services the app checks signatures against the system clock.
    now = datetime.now(UTC)
    target = await storage.upload_target(
        key, content_type=mime, size=len(data), sha256=sha(data), expires_in_s=600, now=now
    )
    response = await api.put(target.url, content=data, headers=target.headers)
    assert response.status_code == 201, response.text
    return urlsplit(storage.public_url(key)).path


@pytest.mark.parametrize(("mime", "data"), ACTIVE, ids=[m for m, _ in ACTIVE])
async def test_active_content_is_sandboxed_and_downloaded(
    api: httpx.AsyncClient,
    edge: httpx.AsyncClient,
    local_storage: LocalStorage,
    mime: str,
    data: bytes,
) -> None:
    path = await upload_locally(api, local_storage, mime, data)
    for response in (
        await edge.get(path),
        await edge.head(path),
        await edge.get(path, headers={"Range": "bytes=0-3"}),
    ):
        assert response.status_code in (200, 206)
        assert response.headers["content-type"].split(";")[0] == mime
        assert response.headers["content-security-policy"] == "sandbox"
        assert response.headers["content-disposition"] == "attachment"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (await edge.get(path)).content == data  # players still get the exact bytes


@pytest.mark.parametrize(("mime", "data"), PASSIVE, ids=[m for m, _ in PASSIVE])
async def test_media_is_served_inline_but_never_sniffed(
    api: httpx.AsyncClient,
    edge: httpx.AsyncClient,
    local_storage: LocalStorage,
    mime: str,
    data: bytes,
) -> None:
    path = await upload_locally(api, local_storage, mime, data)
    response = await edge.get(path)
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == mime
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in response.headers
    assert "sandbox" not in response.headers["content-security-policy"]
    # A browser-based player on another origin may embed media.
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"


async def test_html_bytes_declared_as_an_image_are_not_sniffed_into_a_page(
    api: httpx.AsyncClient, edge: httpx.AsyncClient, local_storage: LocalStorage
) -> None:
    path = await upload_locally(api, local_storage, "image/png", HTML)
    response = await edge.get(path)
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_file_of_unknown_type_is_active(
    edge: httpx.AsyncClient, local_storage: LocalStorage
) -> None:
    key = "content/legacy/blob.unknownext"
    await local_storage.put_bytes(key, HTML, sha256=sha(HTML), size=len(HTML))
    response = await edge.get(urlsplit(local_storage.public_url(key)).path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["content-disposition"] == "attachment"


@pytest.mark.parametrize(
    ("mime", "passive"),
    [
        ("image/png", True),
        ("IMAGE/JPEG; q=1", True),
        ("video/mp4", True),
        ("audio/mpeg", True),
        ("image/svg+xml", False),
        ("image/svg+xml; charset=utf-8", False),
        ("text/html", False),
        ("application/xhtml+xml", False),
        ("application/pdf", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_the_one_rule(mime: str | None, passive: bool) -> None:
    assert is_passive_media(mime) is passive


# --- S3 ---------------------------------------------------------------------------------------


@pytest.fixture
async def s3_client(s3_endpoint: str) -> AsyncIterator[Any]:
    session = aioboto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    async with session.client("s3", endpoint_url=s3_endpoint) as client:
        yield client


@pytest.mark.parametrize(
    ("mime", "data"), [*ACTIVE, *PASSIVE], ids=[m for m, _ in ACTIVE + PASSIVE]
)
async def test_s3_presigned_uploads_store_the_disposition(
    s3_storage: S3Storage, s3_client: Any, mime: str, data: bytes
) -> None:
    key = content_object_key(uuid.uuid4(), sha(data), mime)
    target = await s3_storage.upload_target(
        key, content_type=mime, size=len(data), sha256=sha(data), expires_in_s=600, now=NOW
    )
    signed = parse_qs(urlsplit(target.url).query)["X-Amz-SignedHeaders"][0].split(";")
    async with httpx.AsyncClient() as http:
        response = await http.put(target.url, content=data, headers=target.headers)
    assert response.status_code == 200, response.text
    head = await s3_client.head_object(Bucket=s3_storage.bucket, Key=key)
    assert head["ContentType"] == mime
    if is_passive_media(mime):
        assert "Content-Disposition" not in target.headers
        assert "ContentDisposition" not in head
    else:
        # Signed: a client that leaves it out (or changes it) breaks the signature.
        assert target.headers["Content-Disposition"] == "attachment"
        assert "content-disposition" in signed
        assert head["ContentDisposition"] == "attachment"


async def test_s3_server_side_writes_store_the_disposition(
    s3_storage: S3Storage, s3_client: Any
) -> None:
    await s3_storage.put_bytes(
        "content/a/page.html", HTML, sha256=sha(HTML), size=len(HTML), content_type="text/html"
    )
    big_svg = SVG + b" " * (S3_PART_SIZE + 1)  # goes up as a multipart upload

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big_svg), 1024 * 1024):
            yield big_svg[start : start + 1024 * 1024]

    await s3_storage.put_stream(
        "content/a/logo.svg",
        chunks(),
        sha256=sha(big_svg),
        size=len(big_svg),
        content_type="image/svg+xml",
    )
    await s3_storage.put_bytes(
        "content/a/pic.png", PNG, sha256=sha(PNG), size=len(PNG), content_type="image/png"
    )
    page = await s3_client.head_object(Bucket=s3_storage.bucket, Key="content/a/page.html")
    logo = await s3_client.head_object(Bucket=s3_storage.bucket, Key="content/a/logo.svg")
    picture = await s3_client.head_object(Bucket=s3_storage.bucket, Key="content/a/pic.png")
    assert page["ContentDisposition"] == logo["ContentDisposition"] == "attachment"
    assert "ContentDisposition" not in picture
