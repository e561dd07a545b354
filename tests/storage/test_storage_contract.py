"""The behaviour both backends promise, run against each: a tmp dir and a real S3 HTTP server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from core.errors import IntegrityMismatch, NotFound, PayloadTooLarge, ValidationFailed
from core.storage import ObjectStorage, StoredObject

MiB = 1024 * 1024
KEY = "content/0b6f3f0e-6c1f-4c55-9d8e-2a7d3c1b9a10/clip.mp4"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Source:
    """An async byte stream that records how far it was read, to prove reads stop early."""

    def __init__(self, data: bytes, chunk_size: int, *, fail_after: int | None = None) -> None:
        self.chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
        self.consumed = 0
        self.fail_after = fail_after

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            if self.fail_after is not None and self.consumed >= self.fail_after:
                raise ConnectionResetError("client went away")
            self.consumed += 1
            yield chunk


async def test_put_bytes_round_trip(storage: ObjectStorage) -> None:
    data = b"frame" * 1000
    stored = await storage.put_bytes(
        KEY, data, sha256=sha(data), size=len(data), content_type="video/mp4"
    )
    assert stored == StoredObject(KEY, len(data), sha(data), "video/mp4")
    assert await storage.exists(KEY)
    assert await storage.read_bytes(KEY) == data
    assert b"".join([c async for c in storage.iter_bytes(KEY, chunk_size=1000)]) == data
    verified = await storage.verify(KEY, sha256=sha(data), size=len(data))
    assert (verified.key, verified.size, verified.sha256) == (KEY, len(data), sha(data))


async def test_empty_object_round_trip(storage: ObjectStorage) -> None:
    await storage.put_bytes("empty.bin", b"", sha256=sha(b""), size=0)
    assert await storage.read_bytes("empty.bin") == b""
    await storage.verify("empty.bin", sha256=sha(b""), size=0)


async def test_uppercase_sha256_is_accepted_and_normalized(storage: ObjectStorage) -> None:
    stored = await storage.put_bytes("a.bin", b"abc", sha256=sha(b"abc").upper(), size=3)
    assert stored.sha256 == sha(b"abc")


async def test_put_bytes_with_wrong_sha256_stores_nothing(storage: ObjectStorage) -> None:
    with pytest.raises(IntegrityMismatch) as info:
        await storage.put_bytes(KEY, b"real bytes", sha256=sha(b"other bytes"), size=10)
    assert info.value.code == "integrity_mismatch"
    assert info.value.details["actual_sha256"] == sha(b"real bytes")
    assert not await storage.exists(KEY)


async def test_put_bytes_with_wrong_size_stores_nothing(storage: ObjectStorage) -> None:
    data = b"twelve bytes"
    with pytest.raises(IntegrityMismatch) as info:
        await storage.put_bytes(KEY, data, sha256=sha(data), size=len(data) + 1)
    assert info.value.field == "size"
    assert not await storage.exists(KEY)


async def test_put_stream_round_trip_over_several_parts(storage: ObjectStorage) -> None:
    data = os.urandom(11 * MiB + 123)  # three S3 parts of 5 MiB, the last one short
    stored = await storage.put_stream(
        KEY, Source(data, 256 * 1024), sha256=sha(data), size=len(data), content_type="video/mp4"
    )
    assert stored.size == len(data)
    await storage.verify(KEY, sha256=sha(data), size=len(data))
    assert await storage.read_bytes(KEY) == data


async def test_put_stream_exactly_one_part(storage: ObjectStorage) -> None:
    data = os.urandom(5 * MiB)  # fills the first S3 part exactly: no empty trailing part
    await storage.put_stream(KEY, Source(data, MiB), sha256=sha(data), size=len(data))
    await storage.verify(KEY, sha256=sha(data), size=len(data))


async def test_put_stream_with_wrong_sha256_stores_nothing(storage: ObjectStorage) -> None:
    data = os.urandom(11 * MiB)
    corrupted = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(IntegrityMismatch):
        await storage.put_stream(KEY, Source(corrupted, MiB), sha256=sha(data), size=len(data))
    assert not await storage.exists(KEY)


async def test_put_stream_shorter_than_declared_stores_nothing(storage: ObjectStorage) -> None:
    data = b"x" * 1000
    with pytest.raises(IntegrityMismatch) as info:
        await storage.put_stream(KEY, Source(data[:999], 100), sha256=sha(data), size=1000)
    assert info.value.details["actual_size"] == 999
    assert not await storage.exists(KEY)


async def test_put_stream_longer_than_declared_stops_reading(storage: ObjectStorage) -> None:
    data = os.urandom(20 * MiB)
    source = Source(data, MiB)
    with pytest.raises(IntegrityMismatch):
        await storage.put_stream(KEY, source, sha256=sha(data[: 2 * MiB]), size=2 * MiB)
    assert source.consumed == 3  # the third chunk crossed the declared size
    assert not await storage.exists(KEY)


async def test_put_stream_past_max_bytes_is_too_large(storage: ObjectStorage) -> None:
    data = os.urandom(20 * MiB)
    source = Source(data, MiB)
    with pytest.raises(PayloadTooLarge):
        await storage.put_stream(
            KEY, source, sha256=sha(data[: 2 * MiB]), size=2 * MiB, max_bytes=2 * MiB
        )
    assert source.consumed == 3
    assert not await storage.exists(KEY)


async def test_declared_size_over_max_bytes_reads_nothing(storage: ObjectStorage) -> None:
    source = Source(b"x" * 100, 10)
    with pytest.raises(PayloadTooLarge):
        await storage.put_stream(KEY, source, sha256=sha(b"x" * 100), size=100, max_bytes=99)
    assert source.consumed == 0


async def test_failing_stream_keeps_the_previous_object(storage: ObjectStorage) -> None:
    old = b"old version"
    await storage.put_bytes(KEY, old, sha256=sha(old), size=len(old))
    new = os.urandom(11 * MiB)
    with pytest.raises(ConnectionResetError):
        await storage.put_stream(
            KEY, Source(new, MiB, fail_after=7), sha256=sha(new), size=len(new)
        )
    assert await storage.read_bytes(KEY) == old


async def test_overwriting_a_key_replaces_it(storage: ObjectStorage) -> None:
    await storage.put_bytes(KEY, b"one", sha256=sha(b"one"), size=3)
    await storage.put_bytes(KEY, b"second", sha256=sha(b"second"), size=6)
    assert await storage.read_bytes(KEY) == b"second"


async def test_verify_checks_the_stored_bytes(storage: ObjectStorage) -> None:
    data = b"stored bytes"
    await storage.put_bytes(KEY, data, sha256=sha(data), size=len(data))
    with pytest.raises(IntegrityMismatch) as info:
        await storage.verify(KEY, sha256=sha(b"other bytes!"), size=len(data))
    assert info.value.field == "sha256"
    with pytest.raises(IntegrityMismatch) as info:
        await storage.verify(KEY, sha256=sha(data), size=len(data) + 1)
    assert info.value.field == "size"
    with pytest.raises(NotFound):
        await storage.verify("missing/key.mp4", sha256=sha(data), size=len(data))


async def test_missing_objects(storage: ObjectStorage) -> None:
    assert not await storage.exists("missing/key.mp4")
    with pytest.raises(NotFound):
        await storage.read_bytes("missing/key.mp4")
    with pytest.raises(NotFound):
        async for _ in storage.iter_bytes("missing/key.mp4"):
            pass
    await storage.delete("missing/key.mp4")  # idempotent


async def test_delete_removes_the_object(storage: ObjectStorage) -> None:
    await storage.put_bytes(KEY, b"abc", sha256=sha(b"abc"), size=3)
    await storage.delete(KEY)
    assert not await storage.exists(KEY)


async def test_public_url_is_stable_and_ends_with_the_key(storage: ObjectStorage) -> None:
    first = storage.public_url(KEY)
    assert first.endswith("/" + KEY)
    assert "?" not in first  # never presigned: plans embed it and their ETag must not change
    await storage.put_bytes(KEY, b"abc", sha256=sha(b"abc"), size=3)
    assert storage.public_url(KEY) == first


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "content/../../escape",
    "content/./x",
    ".tmp/put-x",
    "content/.hidden",
    "a//b",
    "trailing/",
    "back\\slash",
    "space here",
    "percent%2e%2e",
    "new\nline",
    "ünïcode",
    "a" * 513,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_unsafe_keys_are_rejected_everywhere(storage: ObjectStorage, key: str) -> None:
    with pytest.raises(ValidationFailed):
        await storage.put_bytes(key, b"abc", sha256=sha(b"abc"), size=3)
    with pytest.raises(ValidationFailed):
        await storage.put_stream(key, Source(b"abc", 1), sha256=sha(b"abc"), size=3)
    with pytest.raises(ValidationFailed):
        await storage.read_bytes(key)
    with pytest.raises(ValidationFailed):
        await storage.verify(key, sha256=sha(b"abc"), size=3)
    with pytest.raises(ValidationFailed):
        await storage.exists(key)
    with pytest.raises(ValidationFailed):
        await storage.delete(key)
    with pytest.raises(ValidationFailed):
        storage.public_url(key)
    with pytest.raises(ValidationFailed):
        await storage.upload_target(
            key, content_type="video/mp4", size=3, sha256=sha(b"abc"), expires_in_s=60, now=NOW
        )


@pytest.mark.parametrize("bad_sha", ["", "abc", "z" * 64, sha(b"x") + "0"])
async def test_malformed_sha256_is_a_validation_error(storage: ObjectStorage, bad_sha: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await storage.put_bytes(KEY, b"x", sha256=bad_sha, size=1)
    assert info.value.field == "sha256"


async def test_negative_size_is_a_validation_error(storage: ObjectStorage) -> None:
    with pytest.raises(ValidationFailed):
        await storage.put_bytes(KEY, b"", sha256=sha(b""), size=-1)


async def test_upload_target_reports_its_expiry_from_the_injected_now(
    storage: ObjectStorage,
) -> None:
    target = await storage.upload_target(
        KEY, content_type="video/mp4", size=3, sha256=sha(b"abc"), expires_in_s=900, now=NOW
    )
    assert target.method == "PUT"
    assert target.headers["Content-Type"] == "video/mp4"
    assert target.expires_at == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
