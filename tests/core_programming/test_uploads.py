"""The upload flow: ticket, bytes in storage, finalize into an immutable numbered version."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.content.models import Content
from core.content.queries import latest_versions_by_content_ids, versions_by_content_ids
from core.content.service import create_content
from core.content.uploads import (
    DuplicateVersion,
    UploadNotReceived,
    finalize_upload,
    request_upload,
    version_hash,
)
from core.db.enums import UploadStatus
from core.db.tables import content_uploads
from core.errors import IntegrityMismatch, NotFound, PermissionDenied, ValidationFailed
from core.kernel.actor import Actor
from core.storage import LocalStorage, ObjectStorage
from tests.core_programming.conftest import PlanInputsListener
from tests.core_programming.helpers import audit_rows, sha

VIDEO = b"\x00\x00\x00\x18ftypmp42 fake video bytes"


@pytest.fixture
async def video(services: Services, admin: Actor) -> Content:
    return await create_content(services, admin, name="Trailer", content_type="video")


async def upload_version(
    services: Services, storage: ObjectStorage, actor: Actor, content_id: uuid.UUID, data: bytes
) -> uuid.UUID:
    ticket = await request_upload(
        services,
        actor,
        content_id,
        mime="video/mp4",
        size=len(data),
        sha256=sha(data),
        duration_ms=None,
    )
    await storage.put_bytes(ticket.upload.storage_key, data, sha256=sha(data), size=len(data))
    return ticket.upload.id


async def test_request_returns_a_signed_put_target(
    services: Services, storage: ObjectStorage, admin: Actor, video: Content, clock: FrozenClock
) -> None:
    ticket = await request_upload(
        services,
        admin,
        video.id,
        mime="Video/MP4",
        size=len(VIDEO),
        sha256=sha(VIDEO).upper(),
        duration_ms=15_000,
    )
    assert ticket.method == "PUT"
    assert ticket.url.startswith("http://127.0.0.1:8000/v1/admin/uploads/content/")
    assert ticket.headers == {"Content-Type": "video/mp4"}
    ttl = services.settings.upload_url_ttl_s
    assert ticket.expires_at == clock.now() + timedelta(seconds=ttl)
    upload = ticket.upload
    assert upload.status is UploadStatus.PENDING
    assert (upload.mime, upload.expected_bytes, upload.expected_sha256) == (
        "video/mp4",
        len(VIDEO),
        sha(VIDEO),
    )
    assert upload.storage_key == f"content/{video.id}/{sha(VIDEO)}.mp4"
    [row] = await audit_rows(services, "content.upload_request")
    assert row.target_id == str(video.id)


async def test_finalize_creates_numbered_immutable_versions(
    services: Services,
    storage: ObjectStorage,
    admin: Actor,
    video: Content,
    plan_inputs: PlanInputsListener,
) -> None:
    first = await upload_version(services, storage, admin, video.id, VIDEO)
    v1 = await finalize_upload(services, admin, first)
    second = await upload_version(services, storage, admin, video.id, VIDEO + b"v2")
    v2 = await finalize_upload(services, admin, second)

    assert (v1.version_number, v2.version_number) == (1, 2)
    assert v1.version_hash == version_hash(video.id, 1, sha(VIDEO))
    assert v1.url == storage.public_url(v1.storage_key)
    assert v1.url.startswith("http://127.0.0.1:8001/v1/device/content/")
    assert (v1.bytes, v1.mime, v1.duration_ms) == (len(VIDEO), "video/mp4", None)

    again = await finalize_upload(services, admin, first)  # a retried finalize
    assert again == v1
    async with services.engine.connect() as conn:
        versions = (await versions_by_content_ids(conn, [video.id]))[video.id]
        latest = await latest_versions_by_content_ids(conn, [video.id])
        status = (
            await conn.execute(
                sa.select(content_uploads.c.status, content_uploads.c.content_version_id).where(
                    content_uploads.c.id == first
                )
            )
        ).one()
    assert [v.version_number for v in versions] == [2, 1]
    assert latest[video.id] == v2
    assert (status.status, status.content_version_id) == ("FINALIZED", v1.id)
    assert len(await audit_rows(services, "content.version_create")) == 2
    messages = await plan_inputs.drain()
    assert messages == [{"kind": "content", "ids": [str(video.id)]}] * 2


async def test_concurrent_finalizes_get_distinct_numbers(
    services: Services, storage: ObjectStorage, admin: Actor, video: Content
) -> None:
    uploads = [
        await upload_version(services, storage, admin, video.id, VIDEO + bytes([n]))
        for n in range(4)
    ]
    versions = await asyncio.gather(
        *(finalize_upload(services, admin, upload) for upload in uploads)
    )
    assert sorted(v.version_number for v in versions) == [1, 2, 3, 4]


async def test_finalize_before_the_bytes_arrive(
    services: Services, storage: ObjectStorage, admin: Actor, video: Content
) -> None:
    ticket = await request_upload(
        services,
        admin,
        video.id,
        mime="video/mp4",
        size=10,
        sha256=sha(b"0123456789"),
        duration_ms=None,
    )
    with pytest.raises(UploadNotReceived) as info:
        await finalize_upload(services, admin, ticket.upload.id)
    assert info.value.field == "uploadId"
    with pytest.raises(NotFound):
        await finalize_upload(services, admin, uuid.uuid4())


async def test_finalize_rejects_bytes_that_do_not_match(
    services: Services, storage: ObjectStorage, admin: Actor, video: Content
) -> None:
    ticket = await request_upload(
        services,
        admin,
        video.id,
        mime="video/mp4",
        size=len(VIDEO),
        sha256=sha(VIDEO),
        duration_ms=None,
    )
    # An S3 client can PUT anything; simulate a corrupted object behind the key.
    assert isinstance(storage, LocalStorage)
    path = storage.path_of(ticket.upload.storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(VIDEO[:-1] + b"!")
    with pytest.raises(IntegrityMismatch):
        await finalize_upload(services, admin, ticket.upload.id)
    assert await audit_rows(services, "content.version_create") == []


@pytest.mark.parametrize(
    ("kind", "mime", "size", "digest", "duration", "expected"),
    [
        ("video", "image/png", 10, "a" * 64, None, {("mime", "invalid_choice")}),
        ("web", "text/plain", 10, "a" * 64, 5000, {("mime", "invalid_choice")}),
        ("image", "image/png", 10, "a" * 64, None, {("durationMs", "required")}),
        ("web", "text/html", 10, "a" * 64, None, {("durationMs", "required")}),
        (
            "image",
            "image/png",
            0,
            "xyz",
            0,
            {
                ("bytes", "out_of_range"),
                ("sha256", "invalid_format"),
                ("durationMs", "out_of_range"),
            },
        ),
        ("image", "image/png", 51 * 1024 * 1024, "a" * 64, 5000, {("bytes", "out_of_range")}),
        ("video", "video/mp4; codecs=x", 10, "a" * 64, None, {("mime", "invalid_format")}),
    ],
)
async def test_request_validation_is_field_level(
    services: Services,
    storage: ObjectStorage,
    admin: Actor,
    kind: str,
    mime: str,
    size: int,
    digest: str,
    duration: int | None,
    expected: set[tuple[str, str]],
) -> None:
    item = await create_content(services, admin, name="x", content_type=kind)
    with pytest.raises(ValidationFailed) as info:
        await request_upload(
            services,
            admin,
            item.id,
            mime=mime,
            size=size,
            sha256=digest,
            duration_ms=duration,
        )
    assert {(e["field"], e["code"]) for e in info.value.errors} == expected


async def test_same_bytes_refresh_the_pending_upload_and_then_conflict(
    services: Services, storage: ObjectStorage, admin: Actor, video: Content, clock: FrozenClock
) -> None:
    first = await upload_version(services, storage, admin, video.id, VIDEO)
    clock.advance(timedelta(minutes=30))
    again = await request_upload(
        services,
        admin,
        video.id,
        mime="video/mp4",
        size=len(VIDEO),
        sha256=sha(VIDEO),
        duration_ms=9000,
    )
    assert again.upload.id == first
    assert again.upload.duration_ms == 9000
    assert again.expires_at == clock.now() + timedelta(seconds=services.settings.upload_url_ttl_s)
    await finalize_upload(services, admin, first)
    with pytest.raises(DuplicateVersion) as info:
        await upload_version(services, storage, admin, video.id, VIDEO)
    assert info.value.field == "sha256"


async def test_unknown_content_and_viewer(
    services: Services, storage: ObjectStorage, admin: Actor, viewer: Actor, video: Content
) -> None:
    with pytest.raises(NotFound) as info:
        await upload_version(services, storage, admin, uuid.uuid4(), VIDEO)
    assert info.value.field == "contentId"
    with pytest.raises(PermissionDenied):
        await upload_version(services, storage, viewer, video.id, VIDEO)
    upload = await upload_version(services, storage, admin, video.id, VIDEO)
    with pytest.raises(PermissionDenied):
        await finalize_upload(services, viewer, upload)
