"""Content library use cases: create and edit content items (versions come from uploads)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from core.audit.service import record
from core.bootstrap import Services
from core.content.models import Content
from core.content.validation import FieldErrors, clean_name, clean_tags
from core.db.enums import ContentType
from core.db.rows import get_by_id
from core.db.tables import content
from core.identity.actor import Actor, Permission


def _parse_type(errors: FieldErrors, raw: str) -> ContentType | None:
    try:
        return ContentType(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(t.value for t in ContentType)
        errors.add("type", "invalid_choice", f"type must be one of {allowed}")
        return None


async def create_content(
    services: Services, actor: Actor, *, name: str, content_type: str, tags: Sequence[str] = ()
) -> Content:
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    clean = clean_name(errors, name)
    kind = _parse_type(errors, content_type)
    clean_tag_list = clean_tags(errors, tags)
    errors.raise_if_any()
    assert kind is not None
    now = services.clock.now()
    async with services.uow() as uow:
        row = (
            await uow.conn.execute(
                sa.insert(content)
                .values(
                    name=clean, type=kind.value, tags=clean_tag_list, created_at=now, updated_at=now
                )
                .returning(content)
            )
        ).one()
        created = Content.from_row(row)
        await record(
            uow.conn,
            actor,
            action="content.create",
            target_type="content",
            target_id=created.id,
            after=dataclasses.asdict(created),
        )
        await uow.commit()
    return created


async def update_content(
    services: Services,
    actor: Actor,
    content_id: uuid.UUID,
    *,
    name: str | None = None,
    tags: Sequence[str] | None = None,
) -> Content:
    """Rename and/or retag; `None` leaves a field as it is. The type never changes, because
    existing versions were validated against it."""
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = clean_name(errors, name)
    if tags is not None:
        values["tags"] = clean_tags(errors, tags)
    errors.raise_if_any()
    async with services.uow() as uow:
        before_row = await get_by_id(uow.conn, content, content_id, what="content", lock=True)
        before = Content.from_row(before_row)
        row = (
            await uow.conn.execute(
                sa.update(content)
                .where(content.c.id == content_id)
                .values(**values, updated_at=services.clock.now())
                .returning(content)
            )
        ).one()
        after = Content.from_row(row)
        await record(
            uow.conn,
            actor,
            action="content.update",
            target_type="content",
            target_id=content_id,
            before=dataclasses.asdict(before),
            after=dataclasses.asdict(after),
        )
        await uow.commit()
    return after
