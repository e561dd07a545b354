"""Object storage on S3 or any S3-compatible service (MinIO in compose), via aioboto3.

Integrity: our own sha256/size checks run before an object is completed, and every write also
sends `x-amz-checksum-sha256` so the service re-checks the bytes it received. Presigned PUT URLs
sign Content-Length, Content-Type and that checksum header, so S3 itself refuses other bytes
or another type; for types a browser could execute they also sign `Content-Disposition:
attachment`, which S3 stores and serves back (`core.storage.serving`: every write path stores it);
`verify` still streams the stored object and hashes it, because ETags are not sha256 and not
every S3-compatible server enforces signed checksums.

Large streams go up as multipart uploads (one part buffered at a time); on any failure the
multipart upload is aborted, so nothing becomes visible. A bucket lifecycle rule that aborts
incomplete multipart uploads is still advisable for crashes mid-upload.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack, suppress
from datetime import datetime, timedelta
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from core.config import Settings
from core.errors import NotFound, ValidationFailed
from core.storage.base import StoredObject, UploadTarget
from core.storage.integrity import Expected
from core.storage.keys import normalize_sha256, validate_key, validate_size
from core.storage.serving import stored_disposition

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


def _b64_sha256(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


def _type_params(content_type: str | None) -> dict[str, str]:
    """ContentType and, for types a browser could execute, ContentDisposition to store."""
    params: dict[str, str] = {}
    if content_type:
        params["ContentType"] = content_type
    disposition = stored_disposition(content_type)
    if disposition is not None:
        params["ContentDisposition"] = disposition
    return params


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_base_url: str | None = None,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self.part_size = part_size
        self._public_base_url = self._public_base(public_base_url)
        self._session = aioboto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self._config = Config(
            signature_version="s3v4",
            # S3-compatible servers (MinIO, moto) are addressed by path; AWS picks its own.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        return cls(
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=(
                settings.s3_access_key_id.get_secret_value() if settings.s3_access_key_id else None
            ),
            secret_access_key=(
                settings.s3_secret_access_key.get_secret_value()
                if settings.s3_secret_access_key
                else None
            ),
            public_base_url=settings.s3_public_base_url,
        )

    def _public_base(self, configured: str | None) -> str:
        if configured:
            return configured.rstrip("/")
        if self.endpoint_url:
            return f"{self.endpoint_url}/{self.bucket}"
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com"

    async def _s3(self) -> Any:
        """One client per storage, opened on first use (aiobotocore clients are async contexts)."""
        async with self._client_lock:
            if self._client is None:
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(
                    self._session.client("s3", endpoint_url=self.endpoint_url, config=self._config)
                )
                self._stack = stack
            return self._client

    async def aclose(self) -> None:
        async with self._client_lock:
            if self._stack is not None:
                await self._stack.aclose()
            self._stack = None
            self._client = None

    async def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (idempotent; for dev stacks and tests)."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await s3.create_bucket(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise

    # -- writes ------------------------------------------------------------------------------

    async def put_bytes(
        self, key: str, data: bytes, *, sha256: str, size: int, content_type: str | None = None
    ) -> StoredObject:
        expected = Expected.of(key, sha256=sha256, size=size)
        expected.check_bytes(data)
        await self._put_object(expected, data, content_type)
        return StoredObject(expected.key, expected.size, expected.sha256, content_type)

    async def _put_object(self, expected: Expected, data: bytes, content_type: str | None) -> None:
        s3 = await self._s3()
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": expected.key,
            "Body": data,
            "ContentLength": len(data),
            "ChecksumSHA256": _b64_sha256(expected.sha256),
        }
        params.update(_type_params(content_type))
        await s3.put_object(**params)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        sha256: str,
        size: int,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> StoredObject:
        expected = Expected.of(key, sha256=sha256, size=size, max_bytes=max_bytes)
        upload = _MultipartUpload(self, expected, content_type)
        hasher = hashlib.sha256()
        received = 0
        buffer = bytearray()
        try:
            async for chunk in chunks:
                received += len(chunk)
                expected.check_progress(received)
                hasher.update(chunk)
                buffer += chunk
                if len(buffer) >= self.part_size:
                    await upload.send_part(bytes(buffer))
                    buffer.clear()
            expected.check_complete(received, hasher.hexdigest())
            if upload.started:
                if buffer:
                    await upload.send_part(bytes(buffer))
                await upload.complete()
            else:
                await self._put_object(expected, bytes(buffer), content_type)
        except BaseException:
            await asyncio.shield(upload.abort())
            raise
        return StoredObject(expected.key, expected.size, expected.sha256, content_type)

    # -- upload URLs ---------------------------------------------------------------------------

    async def upload_target(
        self,
        key: str,
        *,
        content_type: str,
        size: int,
        sha256: str,
        expires_in_s: int,
        now: datetime,
    ) -> UploadTarget:
        """A presigned PUT. Its validity window is measured by botocore's own clock from the
        moment of signing; `now` only dates the `expires_at` we report."""
        validate_key(key)
        size = validate_size(size)
        checksum = _b64_sha256(normalize_sha256(sha256))
        if not 0 < expires_in_s <= MAX_PRESIGN_EXPIRY_S:
            raise ValidationFailed(
                f"expires_in_s must be between 1 and {MAX_PRESIGN_EXPIRY_S}", field="expires_in_s"
            )
        s3 = await self._s3()
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": size,
            "ChecksumSHA256": checksum,
        }
        headers = {"Content-Type": content_type, "x-amz-checksum-sha256": checksum}
        disposition = stored_disposition(content_type)
        if disposition is not None:  # signed: the client must send it, S3 stores it
            params["ContentDisposition"] = disposition
            headers["Content-Disposition"] = disposition
        url = await s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in_s)
        return UploadTarget(
            url=str(url),
            method="PUT",
            headers=headers,
            expires_at=now + timedelta(seconds=expires_in_s),
        )

    # -- reads ---------------------------------------------------------------------------------

    async def verify(self, key: str, *, sha256: str, size: int) -> StoredObject:
        expected = Expected.of(key, sha256=sha256, size=size)
        head = await self._head(expected.key)
        actual_size = int(head["ContentLength"])
        if actual_size != expected.size:
            expected.check_complete(actual_size, None)
        hasher = hashlib.sha256()
        received = 0
        async for chunk in self.iter_bytes(expected.key):
            hasher.update(chunk)
            received += len(chunk)
        expected.check_complete(received, hasher.hexdigest())
        return StoredObject(expected.key, expected.size, expected.sha256, head.get("ContentType"))

    def public_url(self, key: str) -> str:
        return f"{self._public_base_url}/{validate_key(key)}"

    async def read_bytes(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes(key)])

    async def iter_bytes(self, key: str, *, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                raise NotFound(f"object {key!r} does not exist", field="key") from exc
            raise
        body = response["Body"]
        async with body:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk

    async def exists(self, key: str) -> bool:
        try:
            await self._head(validate_key(key))
        except NotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=validate_key(key))

    async def _head(self, key: str) -> dict[str, Any]:
        s3 = await self._s3()
        try:
            head: dict[str, Any] = await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_not_found(exc):
                raise NotFound(f"object {key!r} does not exist", field="key") from exc
            raise
        return head


class _MultipartUpload:
    """A multipart upload started lazily, once a stream outgrows one part."""

    def __init__(self, storage: S3Storage, expected: Expected, content_type: str | None) -> None:
        self._storage = storage
        self._expected = expected
        self._content_type = content_type
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    @property
    def started(self) -> bool:
        return self._upload_id is not None

    async def send_part(self, data: bytes) -> None:
        s3 = await self._storage._s3()
        if self._upload_id is None:
            params: dict[str, Any] = {
                "Bucket": self._storage.bucket,
                "Key": self._expected.key,
                "ChecksumAlgorithm": "SHA256",
            }
            params.update(_type_params(self._content_type))
            created = await s3.create_multipart_upload(**params)
            self._upload_id = str(created["UploadId"])
        number = len(self._parts) + 1
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        response = await s3.upload_part(
            Bucket=self._storage.bucket,
            Key=self._expected.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
            ContentLength=len(data),
            ChecksumSHA256=checksum,
        )
        self._parts.append(
            {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}
        )

    async def complete(self) -> None:
        s3 = await self._storage._s3()
        await s3.complete_multipart_upload(
            Bucket=self._storage.bucket,
            Key=self._expected.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None

    async def abort(self) -> None:
        """Best effort: the original error matters more than a failed cleanup."""
        if self._upload_id is None:
            return
        s3 = await self._storage._s3()
        with suppress(Exception):
            await s3.abort_multipart_upload(
                Bucket=self._storage.bucket, Key=self._expected.key, UploadId=self._upload_id
            )
        self._upload_id = None
