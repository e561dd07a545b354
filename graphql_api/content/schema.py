"""Content library queries and mutations, including the three-step upload flow."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from core.content import models, uploads
from core.content import service as content_service
from core.content.queries import CONTENT_SORT_NAME, content_query
from core.db.tables import content
from graphql_api.content.loaders import ContentByIdLoader
from graphql_api.content.types import (
    Content,
    ContentFilter,
    ContentSuccess,
    ContentUploadTicket,
    ContentVersion,
    ContentVersionSuccess,
    CreateContentInput,
    UpdateContentInput,
)
from graphql_api.context import AppInfo
from graphql_api.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from graphql_api.permissions import CanManageFleet, CanRead
from graphql_api.relay import Connection, PageArgs, by_sort_name, paginate
from graphql_api.scalars import BigInt

CreateContentResult = Annotated[
    ContentSuccess | ValidationError | PermissionDeniedError,
    strawberry.union("CreateContentResult"),
]
UpdateContentResult = Annotated[
    ContentSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("UpdateContentResult"),
]
RequestContentUploadResult = Annotated[
    ContentUploadTicket | ValidationError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("RequestContentUploadResult"),
]
FinalizeContentUploadResult = Annotated[
    ContentVersionSuccess
    | NotFoundError
    | ConflictError
    | IntegrityError
    | ValidationError
    | PermissionDeniedError,
    strawberry.union("FinalizeContentUploadResult"),
]

CONTENT_BY_NAME = by_sort_name(content, CONTENT_SORT_NAME)


@strawberry.type
class ContentQuery:
    @strawberry.field(permission_classes=[CanRead], description="The content library, by name.")
    async def contents(
        self,
        info: AppInfo,
        filter: ContentFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Content]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or ContentFilter()
        stmt = content_query(models.ContentFilter(type=f.type, tag=f.tag, search=f.search))
        return await paginate(info.context, stmt, CONTENT_BY_NAME, page, Content.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def content(self, info: AppInfo, id: uuid.UUID) -> Content | None:
        row = await info.context.loaders.get(ContentByIdLoader).load(id)
        return Content.from_row(row) if row is not None else None


@strawberry.type
class ContentMutation:
    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def create_content(self, info: AppInfo, input: CreateContentInput) -> CreateContentResult:
        created = await content_service.create_content(
            info.context.services,
            info.context.require_actor(),
            name=input.name,
            content_type=input.type.value,
            tags=input.tags,
        )
        return ContentSuccess(content=Content.from_model(created))

    @strawberry.mutation(permission_classes=[CanManageFleet], description="Rename or retag.")
    async def update_content(
        self, info: AppInfo, id: uuid.UUID, input: UpdateContentInput
    ) -> UpdateContentResult:
        updated = await content_service.update_content(
            info.context.services,
            info.context.require_actor(),
            id,
            name=input.name,
            tags=input.tags,
        )
        return ContentSuccess(content=Content.from_model(updated))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Step 1 of an upload: declare the file and get where to PUT it. `durationMs` "
        "is required for IMAGE and WEB content (how long to show it).",
    )
    async def request_content_upload(
        self,
        info: AppInfo,
        content_id: uuid.UUID,
        mime: str,
        bytes: BigInt,
        sha256: str,
        duration_ms: int | None = None,
    ) -> RequestContentUploadResult:
        ticket = await uploads.request_upload(
            info.context.services,
            info.context.require_actor(),
            content_id,
            mime=mime,
            size=bytes,
            sha256=sha256,
            duration_ms=duration_ms,
        )
        return ContentUploadTicket.from_model(ticket)

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Step 3 of an upload: verify the stored bytes and create the next version. "
        "Safe to retry: an upload already finalized returns its version.",
    )
    async def finalize_content_upload(
        self, info: AppInfo, upload_id: uuid.UUID
    ) -> FinalizeContentUploadResult:
        version = await uploads.finalize_upload(
            info.context.services, info.context.require_actor(), upload_id
        )
        return ContentVersionSuccess(version=ContentVersion.from_model(version))
