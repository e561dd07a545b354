"""GraphQL types of the content library: content, immutable versions, uploads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from core.content import models
from core.db.enums import ContentType, UploadStatus
from graphql_api.content.loaders import (
    ContentByIdLoader,
    LatestVersionByContentIdLoader,
    VersionsByContentIdLoader,
)
from graphql_api.context import AppInfo
from graphql_api.copying import copy_fields
from graphql_api.scalars import BigInt

strawberry.enum(
    ContentType,
    name="ContentType",
    description="VIDEO: video/* files; IMAGE: image/* stills; WEB: a text/html page.",
)
strawberry.enum(
    UploadStatus,
    name="UploadStatus",
    description="PENDING until finalized into a version.",
)


@strawberry.type(description="One uploaded file of a content item. Versions never change.")
class ContentVersion:
    id: uuid.UUID
    content_id: uuid.UUID
    version_number: int = strawberry.field(description="1, 2, 3... per content item.")
    version_hash: str = strawberry.field(description="Globally unique identity of the version.")
    url: str = strawberry.field(description="Stable download URL for players.")
    sha256: str
    bytes: BigInt
    mime: str
    duration_ms: int | None
    created_at: datetime

    @strawberry.field
    async def content(self, info: AppInfo) -> Content | None:
        row = await info.context.loaders.get(ContentByIdLoader).load(self.content_id)
        return Content.from_row(row) if row is not None else None

    @classmethod
    def from_model(cls, version: models.ContentVersion) -> ContentVersion:
        return copy_fields(cls, version)

    @classmethod
    def from_row(cls, row: Row[Any]) -> ContentVersion:
        return cls.from_model(models.ContentVersion.from_row(row))


@strawberry.type(description="A content item of the library; its files are its versions.")
class Content:
    id: uuid.UUID
    name: str
    type: ContentType
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Every version, newest first.")
    async def versions(self, info: AppInfo) -> list[ContentVersion]:
        found = await info.context.loaders.get(VersionsByContentIdLoader).load(self.id)
        return [ContentVersion.from_model(version) for version in found]

    @strawberry.field(description="The newest version; null until a first upload is finalized.")
    async def latest_version(self, info: AppInfo) -> ContentVersion | None:
        found = await info.context.loaders.get(LatestVersionByContentIdLoader).load(self.id)
        return ContentVersion.from_model(found) if found is not None else None

    @classmethod
    def from_model(cls, item: models.Content) -> Content:
        return copy_fields(cls, item, tags=list(item.tags))

    @classmethod
    def from_row(cls, row: Row[Any]) -> Content:
        return cls.from_model(models.Content.from_row(row))


@strawberry.type(description="A requested upload; finalize it once the bytes are PUT.")
class ContentUpload:
    id: uuid.UUID
    content_id: uuid.UUID
    status: UploadStatus
    mime: str
    bytes: BigInt
    sha256: str
    duration_ms: int | None
    expires_at: datetime
    finalized_at: datetime | None
    content_version_id: uuid.UUID | None

    @classmethod
    def from_model(cls, upload: models.ContentUpload) -> ContentUpload:
        return copy_fields(cls, upload, bytes=upload.expected_bytes, sha256=upload.expected_sha256)


@strawberry.type
class HttpHeader:
    name: str
    value: str


@strawberry.type(
    description="Send the file with `method` to `url`, with exactly these `headers`, before "
    "`expiresAt`; then call `finalizeContentUpload(uploadId)`."
)
class ContentUploadTicket:
    upload: ContentUpload
    url: str
    method: str
    headers: list[HttpHeader]
    expires_at: datetime

    @classmethod
    def from_model(cls, ticket: models.UploadTicket) -> ContentUploadTicket:
        return cls(
            upload=ContentUpload.from_model(ticket.upload),
            url=ticket.url,
            method=ticket.method,
            headers=[HttpHeader(name=k, value=v) for k, v in sorted(ticket.headers.items())],
            expires_at=ticket.expires_at,
        )


@strawberry.type
class ContentSuccess:
    content: Content


@strawberry.type
class ContentVersionSuccess:
    version: ContentVersion

    @strawberry.field
    async def content(self, info: AppInfo) -> Content | None:
        row = await info.context.loaders.get(ContentByIdLoader).load(self.version.content_id)
        return Content.from_row(row) if row is not None else None


@strawberry.input
class CreateContentInput:
    name: str
    type: ContentType
    tags: list[str] = strawberry.field(default_factory=list)


@strawberry.input(description="Omitted fields stay as they are.")
class UpdateContentInput:
    name: str | None = None
    tags: list[str] | None = None


@strawberry.input
class ContentFilter:
    type: ContentType | None = None
    tag: str | None = None
    search: str | None = strawberry.field(default=None, description="Part of the name.")
