"""The embedded-mode HTTP routes: signed local uploads and content serving, over real ASGI HTTP."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from core.clock import FrozenClock
from core.storage import LocalStorage, UploadTarget
from http_common.storage_routes import content_routes, upload_routes

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
KEY = "content/0b6f3f0e-6c1f-4c55-9d8e-2a7d3c1b9a10/clip.mp4"
DATA = os.urandom(300 * 1024)
TTL_S = 600


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def client(
    local_storage: LocalStorage, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[*upload_routes(local_storage, clock), *content_routes(local_storage)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as http:
        yield http


@pytest.fixture
async def target(local_storage: LocalStorage) -> UploadTarget:
    return await local_storage.upload_target(
        KEY, content_type="video/mp4", size=len(DATA), sha256=sha(DATA), expires_in_s=TTL_S, now=NOW
    )


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_signed_upload_stores_the_bytes_and_players_can_fetch_them(
    client: httpx.AsyncClient, local_storage: LocalStorage, target: UploadTarget
) -> None:
    response = await client.put(target.url, content=DATA, headers=target.headers)
    assert response.status_code == 201, response.text
    assert response.json() == {"key": KEY, "size": len(DATA), "sha256": sha(DATA)}
    await local_storage.verify(KEY, sha256=sha(DATA), size=len(DATA))

    content = await client.get(local_storage.public_url(KEY))
    assert content.status_code == 200
    assert content.content == DATA
    assert content.headers["content-type"] == "video/mp4"

    partial = await client.get(local_storage.public_url(KEY), headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206
    assert partial.content == DATA[10:20]


async def test_a_streamed_body_without_content_length_works(
    client: httpx.AsyncClient, local_storage: LocalStorage, target: UploadTarget
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(DATA), 64 * 1024):
            yield DATA[start : start + 64 * 1024]

    response = await client.put(target.url, content=body())
    assert response.status_code == 201, response.text
    assert await local_storage.read_bytes(KEY) == DATA


async def test_an_expired_url_is_refused(
    client: httpx.AsyncClient, local_storage: LocalStorage, clock: FrozenClock, target: UploadTarget
) -> None:
    clock.advance(timedelta(seconds=TTL_S))
    response = await client.put(target.url, content=DATA)
    assert response.status_code == 403
    assert error_code(response) == "upload_url_expired"
    assert not await local_storage.exists(KEY)


async def test_a_url_is_usable_until_just_before_it_expires(
    client: httpx.AsyncClient, clock: FrozenClock, target: UploadTarget
) -> None:
    clock.advance(timedelta(seconds=TTL_S - 1))
    response = await client.put(target.url, content=DATA)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "changes",
    [
        {"signature": "0" * 64},
        {"size": str(len(DATA) + 1)},
        {"sha256": sha(b"something else")},
        {"expires": str(int(NOW.timestamp()) + 10 * TTL_S)},
    ],
    ids=["signature", "size", "sha256", "expires"],
)
async def test_a_tampered_url_is_refused(
    client: httpx.AsyncClient,
    local_storage: LocalStorage,
    target: UploadTarget,
    changes: dict[str, str],
) -> None:
    response = await client.put(with_query(target.url, **changes), content=DATA)
    assert response.status_code == 403
    assert error_code(response) == "upload_signature_invalid"
    assert not await local_storage.exists(KEY)


async def test_a_signature_for_another_key_is_refused(
    client: httpx.AsyncClient, local_storage: LocalStorage, target: UploadTarget
) -> None:
    other = target.url.replace(KEY, "content/other/clip.mp4")
    response = await client.put(other, content=DATA)
    assert response.status_code == 403
    assert not await local_storage.exists("content/other/clip.mp4")


async def test_a_url_without_signature_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/v1/admin/uploads/{KEY}", content=DATA)
    assert response.status_code == 403
    assert error_code(response) == "upload_signature_invalid"


async def test_a_body_larger_than_signed_is_too_large(
    client: httpx.AsyncClient, local_storage: LocalStorage, target: UploadTarget
) -> None:
    response = await client.put(target.url, content=DATA + b"x")
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert not await local_storage.exists(KEY)


async def test_a_streamed_body_larger_than_signed_is_too_large(
    client: httpx.AsyncClient, local_storage: LocalStorage, target: UploadTarget
) -> None:
    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to reject up front
        yield DATA
        yield b"more"

    response = await client.put(target.url, content=body())
    assert response.status_code == 413
    assert not await local_storage.exists(KEY)


async def test_wrong_bytes_of_the_right_size_are_an_integrity_mismatch(
    client: httpx.AsyncClient, local_storage: LocalStorage, target: UploadTarget
) -> None:
    corrupted = bytes([DATA[0] ^ 1]) + DATA[1:]
    response = await client.put(target.url, content=corrupted)
    assert response.status_code == 422
    assert error_code(response) == "integrity_mismatch"
    assert not await local_storage.exists(KEY)


async def test_a_short_body_is_an_integrity_mismatch(
    client: httpx.AsyncClient, local_storage: LocalStorage, target: UploadTarget
) -> None:
    response = await client.put(target.url, content=DATA[:-1])
    assert response.status_code == 422
    assert error_code(response) == "integrity_mismatch"
    assert not await local_storage.exists(KEY)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/device/content/content/missing.mp4",
        "/v1/device/content/.tmp/put-anything",
        "/v1/device/content/content",  # a directory, not an object
        "/v1/device/content/content/%2E%2E/%2E%2E/etc/passwd",
    ],
)
async def test_missing_or_unsafe_content_is_not_found(
    client: httpx.AsyncClient, local_storage: LocalStorage, path: str
) -> None:
    await local_storage.put_bytes("content/present.mp4", b"abc", sha256=sha(b"abc"), size=3)
    response = await client.get(path)
    assert response.status_code == 404
    assert error_code(response) == "not_found"
