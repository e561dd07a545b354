"""Local-directory behaviour: confinement to the root, atomic writes, signing, the factory."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.errors import Conflict, IntegrityMismatch, ValidationFailed
from core.storage import (
    LocalStorage,
    UploadSignatureInvalid,
    UploadSigner,
    UploadUrlExpired,
    content_object_key,
    create_storage,
)
from core.storage.signing import SignedUpload

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(storage: LocalStorage) -> list[Path]:
    tmp = storage.root / ".tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


async def test_objects_are_plain_files_under_the_root(local_storage: LocalStorage) -> None:
    await local_storage.put_bytes("content/a/b.mp4", b"abc", sha256=sha(b"abc"), size=3)
    assert (local_storage.root / "content" / "a" / "b.mp4").read_bytes() == b"abc"
    assert leftovers(local_storage) == []


async def test_failed_writes_leave_no_temp_files(local_storage: LocalStorage) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await local_storage.put_stream("k.bin", chunks(), sha256=sha(b"x"), size=100)

    async def wrong() -> AsyncIterator[bytes]:
        yield b"wrong"

    with pytest.raises(IntegrityMismatch):
        await local_storage.put_stream("k.bin", wrong(), sha256=sha(b"right"), size=5)
    assert leftovers(local_storage) == []
    assert not (local_storage.root / "k.bin").exists()


async def test_a_symlink_inside_the_root_cannot_lead_outside(
    local_storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    local_storage.root.mkdir(parents=True)
    (local_storage.root / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ValidationFailed):
        await local_storage.read_bytes("link/secret.txt")
    with pytest.raises(ValidationFailed):
        await local_storage.put_bytes("link/new.txt", b"abc", sha256=sha(b"abc"), size=3)
    assert not (outside / "new.txt").exists()


async def test_a_key_under_an_existing_object_is_a_conflict(local_storage: LocalStorage) -> None:
    await local_storage.put_bytes("a/b", b"abc", sha256=sha(b"abc"), size=3)
    with pytest.raises(Conflict):
        await local_storage.put_bytes("a/b/c", b"abc", sha256=sha(b"abc"), size=3)
    assert leftovers(local_storage) == []


def test_public_and_upload_urls_come_from_settings(local_storage: LocalStorage) -> None:
    key = "content/x/clip.mp4"
    assert local_storage.public_url(key) == "http://edge.test/v1/device/content/content/x/clip.mp4"


async def test_upload_url_is_signed_over_key_expiry_size_and_sha(
    local_storage: LocalStorage,
) -> None:
    target = await local_storage.upload_target(
        "content/x/clip.mp4",
        content_type="video/mp4",
        size=3,
        sha256=sha(b"abc"),
        expires_in_s=600,
        now=NOW,
    )
    assert target.url.startswith("http://api.test/v1/admin/uploads/content/x/clip.mp4?")
    expires = int((NOW + timedelta(seconds=600)).timestamp())
    assert f"expires={expires}" in target.url
    signature = local_storage.signer.sign(
        key="content/x/clip.mp4", expires=expires, size=3, sha256=sha(b"abc")
    )
    assert f"signature={signature}" in target.url


def signed(signer: UploadSigner, **changes: Any) -> SignedUpload:
    """A genuine signed upload by `signer`, then with `changes` applied after signing."""
    upload = SignedUpload(
        key="content/x/clip.mp4",
        expires=int(NOW.timestamp()) + 60,
        size=3,
        sha256=sha(b"abc"),
        signature="",
    )
    signature = signer.sign(
        key=upload.key, expires=upload.expires, size=upload.size, sha256=upload.sha256
    )
    return replace(replace(upload, signature=signature), **changes)


def test_signer_accepts_its_own_signature_until_expiry() -> None:
    signer = UploadSigner(b"secret")
    signer.check(signed(signer), now=NOW)
    signer.check(signed(signer), now=NOW + timedelta(seconds=59))
    with pytest.raises(UploadUrlExpired):
        signer.check(signed(signer), now=NOW + timedelta(seconds=60))


@pytest.mark.parametrize(
    "changes",
    [
        {"key": "content/x/other.mp4"},
        {"expires": int(NOW.timestamp()) + 3600},
        {"size": 4},
        {"sha256": sha(b"abd")},
        {"signature": "0" * 64},
        {"signature": ""},
    ],
)
def test_signer_rejects_any_tampered_field(changes: dict[str, Any]) -> None:
    signer = UploadSigner(b"secret")
    with pytest.raises(UploadSignatureInvalid):
        signer.check(signed(signer, **changes), now=NOW)


def test_a_signature_from_another_secret_is_rejected() -> None:
    with pytest.raises(UploadSignatureInvalid):
        UploadSigner(b"secret").check(signed(UploadSigner(b"other secret")), now=NOW)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"expires": "1", "size": "3", "sha256": "a"},
        {"expires": "soon", "size": "3", "sha256": "a", "signature": "b"},
        {"expires": "1", "size": "three", "sha256": "a", "signature": "b"},
    ],
)
def test_malformed_upload_query_counts_as_a_bad_signature(query: dict[str, str]) -> None:
    with pytest.raises(UploadSignatureInvalid):
        UploadSigner.parse("k", query)


def test_content_object_key_carries_the_extension_players_need() -> None:
    content_id = uuid.UUID("0b6f3f0e-6c1f-4c55-9d8e-2a7d3c1b9a10")
    key = content_object_key(content_id, sha(b"abc").upper(), "video/mp4")
    assert key == f"content/{content_id}/{sha(b'abc')}.mp4"
    assert content_object_key(content_id, sha(b"abc"), "application/x-unknown").endswith(
        sha(b"abc")
    )


def test_factory_builds_local_storage_in_the_configured_directory(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    storage = create_storage(make_settings(STORAGE_LOCAL_DIR=str(tmp_path / "media")))
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "media").resolve()
    default = create_storage(make_settings())
    assert isinstance(default, LocalStorage)
    assert default.root == (tmp_path / "data" / "storage").resolve()
