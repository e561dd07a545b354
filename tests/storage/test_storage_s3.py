"""S3-only behaviour, against moto's S3 server over real HTTP.

moto accepts any signature and does not enforce signed checksums, so these tests cannot prove
that S3 refuses wrong bytes at PUT time; they prove that the presigned URL works and that
`verify` (which hashes what is really stored) catches wrong bytes regardless.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aioboto3
import httpx
import pytest

from core.config import Settings
from core.errors import IntegrityMismatch, ValidationFailed
from core.storage import S3Storage, create_storage

MiB = 1024 * 1024
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
KEY = "content/1d9a5c0e-0000-4000-8000-000000000001/clip.mp4"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
async def s3_client(s3_endpoint: str) -> AsyncIterator[Any]:
    """An independent client, to look at the bucket without going through S3Storage."""
    session = aioboto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    async with session.client("s3", endpoint_url=s3_endpoint) as client:
        yield client


async def test_presigned_upload_target_accepts_a_put_then_verifies(
    s3_storage: S3Storage,
) -> None:
    data = os.urandom(64 * 1024)
    target = await s3_storage.upload_target(
        KEY, content_type="video/mp4", size=len(data), sha256=sha(data), expires_in_s=900, now=NOW
    )
    signed = parse_qs(urlsplit(target.url).query)["X-Amz-SignedHeaders"][0].split(";")
    assert {"content-length", "content-type", "x-amz-checksum-sha256"} <= set(signed)
    async with httpx.AsyncClient() as http:
        response = await http.put(target.url, content=data, headers=target.headers)
    assert response.status_code == 200, response.text
    stored = await s3_storage.verify(KEY, sha256=sha(data), size=len(data))
    assert (stored.size, stored.sha256, stored.content_type) == (len(data), sha(data), "video/mp4")


async def test_verify_catches_wrong_bytes_put_to_a_presigned_url(s3_storage: S3Storage) -> None:
    data = b"the declared bytes"
    target = await s3_storage.upload_target(
        KEY, content_type="video/mp4", size=len(data), sha256=sha(data), expires_in_s=900, now=NOW
    )
    async with httpx.AsyncClient() as http:
        await http.put(target.url, content=b"THE declared bytes", headers=target.headers)
    with pytest.raises(IntegrityMismatch) as info:
        await s3_storage.verify(KEY, sha256=sha(data), size=len(data))
    assert info.value.details["actual_sha256"] == sha(b"THE declared bytes")


async def test_failed_multipart_stream_leaves_no_upload_behind(
    s3_storage: S3Storage, s3_client: Any
) -> None:
    data = os.urandom(11 * MiB)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MiB):
            yield data[start : start + MiB]

    with pytest.raises(IntegrityMismatch):
        await s3_storage.put_stream(KEY, chunks(), sha256=sha(b"not it"), size=len(data))
    uploads = await s3_client.list_multipart_uploads(Bucket=s3_storage.bucket)
    assert uploads.get("Uploads", []) == []
    listed = await s3_client.list_objects_v2(Bucket=s3_storage.bucket)
    assert listed.get("KeyCount") == 0


async def test_put_sends_the_sha256_checksum_and_content_type(
    s3_storage: S3Storage, s3_client: Any
) -> None:
    await s3_storage.put_bytes(KEY, b"abc", sha256=sha(b"abc"), size=3, content_type="video/mp4")
    head = await s3_client.head_object(Bucket=s3_storage.bucket, Key=KEY)
    assert head["ContentLength"] == 3
    assert head["ContentType"] == "video/mp4"


async def test_ensure_bucket_creates_it_once(s3_endpoint: str, s3_client: Any) -> None:
    bucket = f"fresh-{uuid.uuid4().hex[:12]}"
    storage = S3Storage(
        bucket=bucket,
        region="us-east-1",
        endpoint_url=s3_endpoint,
        access_key_id="testing",
        secret_access_key="testing",
    )
    try:
        await storage.ensure_bucket()
        await storage.ensure_bucket()
        await s3_client.head_bucket(Bucket=bucket)
    finally:
        await storage.aclose()


def test_public_url_prefers_the_configured_public_base() -> None:
    storage = S3Storage(
        bucket="media",
        region="eu-west-1",
        endpoint_url="http://minio:9000",
        public_base_url="https://cdn.example.com/media/",
    )
    assert storage.public_url(KEY) == f"https://cdn.example.com/media/{KEY}"
    assert storage.public_url(KEY) == storage.public_url(KEY)


def test_public_url_falls_back_to_endpoint_and_bucket() -> None:
    storage = S3Storage(bucket="media", region="eu-west-1", endpoint_url="http://minio:9000/")
    assert storage.public_url(KEY) == f"http://minio:9000/media/{KEY}"


def test_public_url_on_aws_without_endpoint() -> None:
    storage = S3Storage(bucket="media", region="eu-west-1")
    assert storage.public_url(KEY) == f"https://media.s3.eu-west-1.amazonaws.com/{KEY}"


@pytest.mark.parametrize("expires_in_s", [0, -1, 7 * 24 * 3600 + 1])
async def test_presign_expiry_must_be_within_s3_limits(
    s3_storage: S3Storage, expires_in_s: int
) -> None:
    with pytest.raises(ValidationFailed):
        await s3_storage.upload_target(
            KEY,
            content_type="video/mp4",
            size=1,
            sha256=sha(b"x"),
            expires_in_s=expires_in_s,
            now=NOW,
        )


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError):
        S3Storage(bucket="media", region="us-east-1", part_size=MiB)


async def test_factory_builds_s3_storage_from_settings(
    s3_endpoint: str, make_settings: Callable[..., Settings]
) -> None:
    bucket = f"factory-{uuid.uuid4().hex[:12]}"
    settings = make_settings(
        STORAGE_BACKEND="s3",
        S3_ENDPOINT_URL=s3_endpoint,
        S3_BUCKET=bucket,
        S3_ACCESS_KEY_ID="testing",
        S3_SECRET_ACCESS_KEY="testing",
        S3_PUBLIC_BASE_URL="https://cdn.example.com",
    )
    storage = create_storage(settings)
    assert isinstance(storage, S3Storage)
    try:
        await storage.ensure_bucket()
        await storage.put_bytes(KEY, b"abc", sha256=sha(b"abc"), size=3)
        await storage.verify(KEY, sha256=sha(b"abc"), size=3)
        assert storage.public_url(KEY) == f"https://cdn.example.com/{KEY}"
    finally:
        await storage.aclose()
