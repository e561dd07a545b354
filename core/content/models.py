"""Plain values the content services return: content items, immutable versions, uploads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.db.enums import ContentType, UploadStatus


@dataclass(frozen=True)
class Content:
    id: uuid.UUID
    name: str
    type: ContentType
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Content:
        return cls(
            id=row.id,
            name=row.name,
            type=ContentType(row.type),
            tags=list(row.tags),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class ContentVersion:
    """One uploaded file. Never updated: a new upload makes a new version."""

    id: uuid.UUID
    content_id: uuid.UUID
    version_number: int
    version_hash: str
    storage_key: str
    url: str
    sha256: str
    bytes: int
    mime: str
    duration_ms: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ContentVersion:
        return cls(
            id=row.id,
            content_id=row.content_id,
            version_number=row.version_number,
            version_hash=row.version_hash,
            storage_key=row.storage_key,
            url=row.url,
            sha256=row.sha256,
            bytes=row.bytes,
            mime=row.mime,
            duration_ms=row.duration_ms,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class ContentUpload:
    id: uuid.UUID
    content_id: uuid.UUID
    storage_key: str
    expected_sha256: str
    expected_bytes: int
    mime: str
    duration_ms: int | None
    status: UploadStatus
    expires_at: datetime
    finalized_at: datetime | None
    content_version_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ContentUpload:
        return cls(
            id=row.id,
            content_id=row.content_id,
            storage_key=row.storage_key,
            expected_sha256=row.expected_sha256,
            expected_bytes=row.expected_bytes,
            mime=row.mime,
            duration_ms=row.duration_ms,
            status=UploadStatus(row.status),
            expires_at=row.expires_at,
            finalized_at=row.finalized_at,
            content_version_id=row.content_version_id,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class UploadTicket:
    """What the client needs to PUT the bytes: where, how, with which headers, until when."""

    upload: ContentUpload
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class ContentFilter:
    type: ContentType | None = None
    tag: str | None = None
    search: str | None = None
