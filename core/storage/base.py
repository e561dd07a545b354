"""The one interface both object-storage backends implement.

Callers (the upload flow, the plan builder, the content route) only ever see `ObjectStorage`, so
the embedded stack (a local directory) and a deployment (S3) run the same domain code. Every write
verifies sha256 and size before the object becomes visible: a version that players download must
be exactly the bytes the console declared.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What the storage vouches for after a verified write or check."""

    key: str
    size: int
    sha256: str
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where and how a console client sends the bytes of one upload.

    `headers` must be sent as given: for S3 they are part of the presigned signature.
    """

    url: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


@runtime_checkable
class ObjectStorage(Protocol):
    async def put_bytes(
        self, key: str, data: bytes, *, sha256: str, size: int, content_type: str | None = None
    ) -> StoredObject:
        """Store `data` under `key` if it matches `sha256` and `size`.

        Raises IntegrityMismatch (nothing stored) when it does not.
        """
        ...

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
        """Stream `chunks` into `key`, hashing while writing; never holds the whole object.

        Raises PayloadTooLarge past `max_bytes` and IntegrityMismatch on a size or sha256
        mismatch; in both cases nothing is stored and reading stops early.
        """
        ...

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
        """A URL the console client PUTs the bytes to (presigned S3 or signed local URL)."""
        ...

    async def verify(self, key: str, *, sha256: str, size: int) -> StoredObject:
        """Check what is really stored under `key` (after a client PUT) by hashing it.

        Raises NotFound when absent and IntegrityMismatch when size or sha256 differ.
        """
        ...

    def public_url(self, key: str) -> str:
        """A stable URL players download from; never presigned, so plans keep their ETag."""
        ...

    async def read_bytes(self, key: str) -> bytes:
        """The whole object (small objects only); NotFound when absent."""
        ...

    def iter_bytes(self, key: str, *, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """The object as chunks, for large objects; NotFound when absent."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove `key`; deleting a missing key is not an error (idempotent)."""
        ...

    async def aclose(self) -> None:
        """Release connections; the storage is unusable afterwards."""
        ...
