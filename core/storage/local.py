"""Object storage in a local directory: the embedded default, served to players over HTTP.

Writes go to a temp file under `<root>/.tmp` (same filesystem), are hashed while written, fsynced
and only then `os.replace`d onto the final path, so a reader never sees a partial or unverified
object and a failed write leaves nothing behind. Keys cannot start a segment with a dot, so no key
can reach `.tmp`; every path is also resolved and checked against the root, so neither `..` nor a
symlink planted inside the root can make the storage read or write outside it.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

from core.config import Settings
from core.errors import Conflict, NotFound, ValidationFailed
from core.storage.base import StoredObject, UploadTarget
from core.storage.integrity import Expected
from core.storage.keys import normalize_sha256, validate_key, validate_size
from core.storage.signing import UploadSigner

_TMP_DIR = ".tmp"
_WRITE_BATCH = 1024 * 1024  # gather small request chunks so each thread hop writes ~1 MiB
_READ_CHUNK = 1024 * 1024


class LocalStorage:
    def __init__(
        self,
        root: Path,
        *,
        public_base_url: str,
        upload_base_url: str,
        signer: UploadSigner,
    ) -> None:
        self.root = root.resolve()
        self._public_base_url = public_base_url.rstrip("/")
        self._upload_base_url = upload_base_url.rstrip("/")
        self.signer = signer

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        return cls(
            settings.local_storage_dir,
            public_base_url=f"{settings.public_edge_url.rstrip('/')}/v1/device/content",
            upload_base_url=f"{settings.public_api_url.rstrip('/')}/v1/admin/uploads",
            signer=UploadSigner(settings.storage_signing_secret.get_secret_value().encode()),
        )

    # -- paths -------------------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """The file behind `key`; guaranteed to lie inside the root (symlinks resolved)."""
        path = (self.root / validate_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValidationFailed("object key resolves outside the storage root", field="key")
        return path

    def _existing_file(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.is_file():
            raise NotFound(f"object {key!r} does not exist", field="key")
        return path

    # -- writes ------------------------------------------------------------------------------

    async def put_bytes(
        self, key: str, data: bytes, *, sha256: str, size: int, content_type: str | None = None
    ) -> StoredObject:
        expected = Expected.of(key, sha256=sha256, size=size)
        expected.check_bytes(data)
        path = self.path_of(key)
        await asyncio.to_thread(self._write_atomically, path, data)
        return self._stored(expected, content_type)

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
        path = self.path_of(key)
        tmp_path, handle = await asyncio.to_thread(self._open_temp)
        try:
            hasher = hashlib.sha256()
            received = 0
            batch = bytearray()
            async for chunk in chunks:
                received += len(chunk)
                expected.check_progress(received)
                batch += chunk
                if len(batch) >= _WRITE_BATCH:
                    await asyncio.to_thread(_write_and_hash, handle, hasher, bytes(batch))
                    batch.clear()
            await asyncio.to_thread(_write_and_hash, handle, hasher, bytes(batch))
            expected.check_complete(received, hasher.hexdigest())
            await asyncio.to_thread(self._commit_temp, handle, tmp_path, path)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_discard, handle, tmp_path))
            raise
        return self._stored(expected, content_type)

    def _open_temp(self) -> tuple[Path, BinaryIO]:
        tmp_dir = self.root / _TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        return Path(name), os.fdopen(fd, "wb")

    def _commit_temp(self, handle: BinaryIO, tmp_path: Path, path: Path) -> None:
        handle.flush()
        # mkstemp creates 0600 files; content is public by design (players fetch it by URL),
        # and an operator may serve the directory with another web server.
        os.fchmod(handle.fileno(), 0o644)
        os.fsync(handle.fileno())
        handle.close()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, path)
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
            raise Conflict(
                f"object key {path.relative_to(self.root)} collides with an existing key prefix",
                field="key",
            ) from exc

    def _write_atomically(self, path: Path, data: bytes) -> None:
        tmp_path, handle = self._open_temp()
        try:
            handle.write(data)
            self._commit_temp(handle, tmp_path, path)
        except BaseException:
            _discard(handle, tmp_path)
            raise

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
        validate_key(key)
        size = validate_size(size)
        sha256 = normalize_sha256(sha256)
        if expires_in_s <= 0:
            raise ValidationFailed("expires_in_s must be positive", field="expires_in_s")
        expires_at = now + timedelta(seconds=expires_in_s)
        expires = int(expires_at.timestamp())
        signature = self.signer.sign(key=key, expires=expires, size=size, sha256=sha256)
        query = urlencode(
            {"expires": expires, "size": size, "sha256": sha256, "signature": signature}
        )
        return UploadTarget(
            url=f"{self._upload_base_url}/{key}?{query}",
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=expires_at,
        )

    # -- reads ---------------------------------------------------------------------------------

    async def verify(self, key: str, *, sha256: str, size: int) -> StoredObject:
        expected = Expected.of(key, sha256=sha256, size=size)
        path = self._existing_file(key)
        actual_size, actual_sha = await asyncio.to_thread(_size_and_sha256, path, expected.size)
        expected.check_complete(actual_size, actual_sha)
        return self._stored(expected, None)

    def public_url(self, key: str) -> str:
        return f"{self._public_base_url}/{validate_key(key)}"

    async def read_bytes(self, key: str) -> bytes:
        path = self._existing_file(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound(f"object {key!r} does not exist", field="key") from exc

    async def iter_bytes(self, key: str, *, chunk_size: int = _READ_CHUNK) -> AsyncIterator[bytes]:
        path = self._existing_file(key)
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def aclose(self) -> None:
        return None

    def _stored(self, expected: Expected, content_type: str | None) -> StoredObject:
        return StoredObject(
            key=expected.key,
            size=expected.size,
            sha256=expected.sha256,
            content_type=content_type or mimetypes.guess_type(expected.key)[0],
        )


def _write_and_hash(handle: BinaryIO, hasher: hashlib._Hash, data: bytes) -> None:
    # hashlib releases the GIL on large buffers, so hashing here keeps the event loop free.
    hasher.update(data)
    handle.write(data)


def _discard(handle: BinaryIO, tmp_path: Path) -> None:
    handle.close()
    tmp_path.unlink(missing_ok=True)


def _size_and_sha256(path: Path, expected_size: int) -> tuple[int, str | None]:
    """The file's size, and its sha256 only when the size is right (a wrong size settles it)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size != expected_size:
            return size, None
        return size, hashlib.file_digest(handle, "sha256").hexdigest()
