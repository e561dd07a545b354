"""The upload flow: request a ticket, let the client PUT the bytes, then finalize.

Why three steps: the bytes never pass through the API process (S3 takes them directly via a
presigned URL), yet a version only exists once the server has checked the stored object
against the declared size and sha256. Keys are content-addressed (`content/<id>/<sha256>.ext`),
so asking twice for the same bytes reuses one pending upload instead of failing.
The ticket's expiry bounds the PUT only: bytes that arrived in time can be finalized later,
since finalize trusts nothing but its own check of the stored object.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.content.models import ContentUpload, ContentVersion, UploadTicket
from core.content.rules import check_bytes, check_duration, check_mime, check_sha256
from core.db.enums import ContentType, PlanChangeKind, UploadStatus
from core.db.tables import content, content_uploads, content_versions
from core.errors import Conflict, NotFound
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.storage import content_object_key
from core.validation import FieldErrors


class UploadNotReceived(Conflict):
    """Finalize was called before the bytes reached storage."""

    code = "upload_not_received"


class DuplicateVersion(Conflict):
    """These exact bytes (and mime) are already a version of this content."""

    code = "duplicate_version"


def version_hash(content_id: uuid.UUID, version_number: int, sha256: str) -> str:
    """Identifies one version globally: the same bytes as version 3 of another item, or as a
    later version of this one, still get a distinct hash."""
    return hashlib.sha256(f"{content_id}:{version_number}:{sha256}".encode()).hexdigest()


async def request_upload(
    services: Services,
    actor: Actor,
    content_id: uuid.UUID,
    *,
    mime: str,
    size: int,
    sha256: str,
    duration_ms: int | None,
) -> UploadTicket:
    actor.require(Permission.MANAGE_FLEET)
    now = services.clock.now()
    ttl = services.settings.upload_url_ttl_s
    async with services.uow() as uow:
        kind_raw = (
            await uow.conn.execute(sa.select(content.c.type).where(content.c.id == content_id))
        ).scalar_one_or_none()
        if kind_raw is None:
            raise NotFound("content not found", field="contentId")
        kind = ContentType(kind_raw)
        errors = FieldErrors()
        clean_mime = check_mime(errors, kind, mime)
        check_bytes(errors, kind, size)
        digest = check_sha256(errors, sha256)
        check_duration(errors, kind, duration_ms)
        errors.raise_if_any()
        key = content_object_key(content_id, digest, clean_mime)
        values = {
            "content_id": content_id,
            "storage_key": key,
            "expected_sha256": digest,
            "expected_bytes": size,
            "mime": clean_mime,
            "duration_ms": duration_ms,
            "status": UploadStatus.PENDING.value,
            "expires_at": now + timedelta(seconds=ttl),
            "created_by": actor.user_id,
            "created_at": now,
        }
        # Same bytes again: refresh a pending upload in place; a finalized one is a duplicate.
        stmt = pg_insert(content_uploads).values(**values)
        refreshed = {
            k: stmt.excluded[k] for k in ("mime", "duration_ms", "expires_at", "created_by")
        }
        row = (
            await uow.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[content_uploads.c.storage_key],
                    set_={**refreshed, "status": UploadStatus.PENDING.value},
                    where=content_uploads.c.status != UploadStatus.FINALIZED.value,
                ).returning(content_uploads)
            )
        ).one_or_none()
        if row is None:
            raise DuplicateVersion(
                "these bytes are already a version of this content; pin that version instead",
                field="sha256",
                details={"code": "duplicate"},  # the API's error code for this conflict
            )
        upload = ContentUpload.from_row(row)
        target = await services.storage.upload_target(
            key, content_type=clean_mime, size=size, sha256=digest, expires_in_s=ttl, now=now
        )
        await record(
            uow.conn,
            actor,
            action="content.upload_request",
            target_type="content",
            target_id=content_id,
            after=dataclasses.asdict(upload),
        )
        await uow.commit()
    return UploadTicket(
        upload=upload,
        url=target.url,
        method=target.method,
        headers=dict(target.headers),
        expires_at=target.expires_at or upload.expires_at,
    )


async def finalize_upload(services: Services, actor: Actor, upload_id: uuid.UUID) -> ContentVersion:
    """Verify the stored bytes and create the next version. Finalizing twice returns the same
    version, so a client that lost the first answer can simply retry."""
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        upload = await _load_upload(uow.conn, upload_id, lock=False)
    if upload.status is not UploadStatus.FINALIZED:
        # Hash outside the transaction: verifying a large object must not hold row locks.
        try:
            await services.storage.verify(
                upload.storage_key, sha256=upload.expected_sha256, size=upload.expected_bytes
            )
        except NotFound:
            raise UploadNotReceived(
                "no bytes were received for this upload yet", field="uploadId"
            ) from None
    async with services.uow() as uow:
        upload = await _load_upload(uow.conn, upload_id, lock=True)
        if upload.content_version_id is not None:
            existing = (
                await uow.conn.execute(
                    sa.select(content_versions).where(
                        content_versions.c.id == upload.content_version_id
                    )
                )
            ).one()
            return ContentVersion.from_row(existing)
        version = await _create_version(services, uow.conn, upload)
        await record(
            uow.conn,
            actor,
            action="content.version_create",
            target_type="content",
            target_id=upload.content_id,
            after=dataclasses.asdict(version),
            details={"upload_id": str(upload.id)},
        )
        await notify_plan_inputs_changed(uow, services, PlanChangeKind.CONTENT, [upload.content_id])
        await uow.commit()
    return version


async def _load_upload(conn: AsyncConnection, upload_id: uuid.UUID, *, lock: bool) -> ContentUpload:
    query = sa.select(content_uploads).where(content_uploads.c.id == upload_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound("upload not found", field="uploadId")
    return ContentUpload.from_row(row)


async def _create_version(
    services: Services, conn: AsyncConnection, upload: ContentUpload
) -> ContentVersion:
    now = services.clock.now()
    # The content row lock serialises numbering: two finalizes never pick the same number.
    await conn.execute(
        sa.select(content.c.id).where(content.c.id == upload.content_id).with_for_update()
    )
    latest = (
        await conn.execute(
            sa.select(sa.func.max(content_versions.c.version_number)).where(
                content_versions.c.content_id == upload.content_id
            )
        )
    ).scalar_one()
    number = (latest or 0) + 1
    row = (
        await conn.execute(
            sa.insert(content_versions)
            .values(
                content_id=upload.content_id,
                version_number=number,
                version_hash=version_hash(upload.content_id, number, upload.expected_sha256),
                storage_key=upload.storage_key,
                url=services.storage.public_url(upload.storage_key),
                sha256=upload.expected_sha256,
                bytes=upload.expected_bytes,
                mime=upload.mime,
                duration_ms=upload.duration_ms,
                created_at=now,
            )
            .returning(content_versions)
        )
    ).one()
    version = ContentVersion.from_row(row)
    await conn.execute(
        sa.update(content_uploads)
        .where(content_uploads.c.id == upload.id)
        .values(
            status=UploadStatus.FINALIZED.value, finalized_at=now, content_version_id=version.id
        )
    )
    await conn.execute(
        sa.update(content).where(content.c.id == upload.content_id).values(updated_at=now)
    )
    return version
