"""Content library use cases: create and edit content items (versions come from uploads)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.audit.writes import insert_audited, update_audited
from core.bootstrap import Services
from core.content.models import Content
from core.content.validation import clean_tags
from core.db.enums import ContentType
from core.db.rows import get_by_id
from core.db.tables import content
from core.kernel.actor import Actor, Permission
from core.validation import FieldErrors, clean_name


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
        created = await insert_audited(
            uow.conn,
            actor,
            content,
            {"name": clean, "type": kind.value, "tags": clean_tag_list},
            at=now,
            build=Content.from_row,
            target_type="content",
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
        after = await update_audited(
            uow.conn,
            actor,
            content,
            Content.from_row(before_row),
            values,
            at=services.clock.now(),
            build=Content.from_row,
            target_type="content",
        )
        await uow.commit()
    return after
