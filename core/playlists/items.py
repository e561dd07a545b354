"""Playlist item use cases: add, remove, reorder, weight, and pinning a version.

Every item change locks the playlist row first, so concurrent edits of one playlist apply
one after the other and `order_index` stays a dense 0..n-1 sequence.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.content.rules import MAX_DURATION_MS
from core.db.enums import PlanChangeKind
from core.db.rows import get_by_id
from core.db.tables import content, content_versions, playlist_items
from core.db.uow import UnitOfWork
from core.errors import ValidationFailed
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.playlists.models import PlaylistItem
from core.playlists.service import lock_playlist
from core.validation import FieldErrors

MAX_ITEMS = 500
MAX_WEIGHT = 1000


def _check_weight(errors: FieldErrors, weight: int) -> None:
    if not 0 < weight <= MAX_WEIGHT:
        errors.add("weight", "out_of_range", f"weight must be 1..{MAX_WEIGHT}")


def _check_duration(errors: FieldErrors, duration_ms: int | None) -> None:
    if duration_ms is not None and not 0 < duration_ms <= MAX_DURATION_MS:
        errors.add("durationMs", "out_of_range", f"duration must be 1..{MAX_DURATION_MS} ms")


async def _check_version(
    conn: AsyncConnection, content_id: uuid.UUID, version_id: uuid.UUID | None
) -> None:
    """The content must exist and a pinned version must be one of its own versions."""
    await get_by_id(
        conn, content, content_id, what="content", field="contentId", columns=[content.c.id]
    )
    if version_id is None:
        return
    version = await get_by_id(
        conn,
        content_versions,
        version_id,
        what="content version",
        field="contentVersionId",
        columns=[content_versions.c.content_id],
    )
    if version.content_id != content_id:
        raise ValidationFailed(
            "the version belongs to another content item",
            field="contentVersionId",
            errors=[
                {
                    "field": "contentVersionId",
                    "code": "version_mismatch",
                    "message": "the version belongs to another content item",
                }
            ],
        )


async def _compact(conn: AsyncConnection, playlist_id: uuid.UUID) -> None:
    """Renumber the playlist's items 0..n-1 in their current order, in one statement."""
    ranked = (
        sa.select(
            playlist_items.c.id,
            (
                sa.func.row_number().over(
                    order_by=(playlist_items.c.order_index, playlist_items.c.id)
                )
                - 1
            ).label("position"),
        )
        .where(playlist_items.c.playlist_id == playlist_id)
        .subquery()
    )
    await conn.execute(
        sa.update(playlist_items)
        .where(
            playlist_items.c.id == ranked.c.id, playlist_items.c.order_index != ranked.c.position
        )
        .values(order_index=ranked.c.position)
    )


async def _changed(services: Services, uow: UnitOfWork, playlist_id: uuid.UUID) -> None:
    await notify_plan_inputs_changed(uow, services, PlanChangeKind.PLAYLIST, [playlist_id])


async def add_item(
    services: Services,
    actor: Actor,
    playlist_id: uuid.UUID,
    *,
    content_id: uuid.UUID,
    content_version_id: uuid.UUID | None = None,
    weight: int = 1,
    duration_ms: int | None = None,
) -> PlaylistItem:
    """Append an item; without a version it follows the content's latest version."""
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    _check_weight(errors, weight)
    _check_duration(errors, duration_ms)
    errors.raise_if_any()
    async with services.uow() as uow:
        await lock_playlist(uow.conn, playlist_id, field="playlistId")
        await _check_version(uow.conn, content_id, content_version_id)
        count, top = (
            await uow.conn.execute(
                sa.select(sa.func.count(), sa.func.max(playlist_items.c.order_index)).where(
                    playlist_items.c.playlist_id == playlist_id
                )
            )
        ).one()
        if count >= MAX_ITEMS:
            raise ValidationFailed(
                f"a playlist holds at most {MAX_ITEMS} items",
                field="playlistId",
                errors=[
                    {
                        "field": "playlistId",
                        "code": "too_many",
                        "message": f"a playlist holds at most {MAX_ITEMS} items",
                    }
                ],
            )
        row = (
            await uow.conn.execute(
                sa.insert(playlist_items)
                .values(
                    playlist_id=playlist_id,
                    content_id=content_id,
                    content_version_id=content_version_id,
                    order_index=0 if top is None else top + 1,
                    weight=weight,
                    duration_ms=duration_ms,
                    created_at=services.clock.now(),
                )
                .returning(playlist_items)
            )
        ).one()
        item = PlaylistItem.from_row(row)
        await record(
            uow.conn,
            actor,
            action="playlist.item_add",
            target_type="playlist",
            target_id=playlist_id,
            after=dataclasses.asdict(item),
        )
        await _changed(services, uow, playlist_id)
        await uow.commit()
    return item


async def _locked_item(uow: UnitOfWork, item_id: uuid.UUID) -> PlaylistItem:
    located = await get_by_id(
        uow.conn,
        playlist_items,
        item_id,
        what="playlist item",
        field="itemId",
        columns=[playlist_items.c.playlist_id],
    )
    await lock_playlist(uow.conn, located.playlist_id, field="itemId")
    # Read again under the lock: the item may have been removed while we waited for it.
    row = await get_by_id(uow.conn, playlist_items, item_id, what="playlist item", field="itemId")
    return PlaylistItem.from_row(row)


async def remove_item(services: Services, actor: Actor, item_id: uuid.UUID) -> PlaylistItem:
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        item = await _locked_item(uow, item_id)
        await uow.conn.execute(sa.delete(playlist_items).where(playlist_items.c.id == item_id))
        await _compact(uow.conn, item.playlist_id)
        await record(
            uow.conn,
            actor,
            action="playlist.item_remove",
            target_type="playlist",
            target_id=item.playlist_id,
            before=dataclasses.asdict(item),
        )
        await _changed(services, uow, item.playlist_id)
        await uow.commit()
    return item


async def _update_item(
    services: Services, actor: Actor, item_id: uuid.UUID, *, action: str, values: dict[str, object]
) -> PlaylistItem:
    async with services.uow() as uow:
        before = await _locked_item(uow, item_id)
        if "content_version_id" in values:
            version_id = values["content_version_id"]
            assert version_id is None or isinstance(version_id, uuid.UUID)
            await _check_version(uow.conn, before.content_id, version_id)
        row = (
            await uow.conn.execute(
                sa.update(playlist_items)
                .where(playlist_items.c.id == item_id)
                .values(**values)
                .returning(playlist_items)
            )
        ).one()
        after = PlaylistItem.from_row(row)
        await record(
            uow.conn,
            actor,
            action=action,
            target_type="playlist",
            target_id=after.playlist_id,
            before=dataclasses.asdict(before),
            after=dataclasses.asdict(after),
        )
        await _changed(services, uow, after.playlist_id)
        await uow.commit()
    return after


async def set_item_weight(
    services: Services, actor: Actor, item_id: uuid.UUID, *, weight: int
) -> PlaylistItem:
    """Weight is the item's share of voice when playlists are interleaved."""
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    _check_weight(errors, weight)
    errors.raise_if_any()
    return await _update_item(
        services, actor, item_id, action="playlist.item_set_weight", values={"weight": weight}
    )


async def set_item_version(
    services: Services, actor: Actor, item_id: uuid.UUID, *, content_version_id: uuid.UUID | None
) -> PlaylistItem:
    """Pin the item to one version of its content, or None to follow the latest again."""
    actor.require(Permission.MANAGE_FLEET)
    return await _update_item(
        services,
        actor,
        item_id,
        action="playlist.item_set_version",
        values={"content_version_id": content_version_id},
    )


async def reorder_items(
    services: Services, actor: Actor, playlist_id: uuid.UUID, item_ids: Sequence[uuid.UUID]
) -> list[PlaylistItem]:
    """Set the play order to `item_ids`, which must list every item exactly once."""
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        await lock_playlist(uow.conn, playlist_id, field="playlistId")
        rows = (
            await uow.conn.execute(
                sa.select(playlist_items.c.id)
                .where(playlist_items.c.playlist_id == playlist_id)
                .order_by(playlist_items.c.order_index, playlist_items.c.id)
            )
        ).all()
        before = [row.id for row in rows]
        _check_permutation(before, item_ids)
        new_order = (
            sa.func.unnest(sa.literal(list(item_ids), ARRAY(UUID(as_uuid=True))))
            .table_valued("id", with_ordinality="position")
            .render_derived(name="new_order")
        )
        await uow.conn.execute(
            sa.update(playlist_items)
            .where(playlist_items.c.id == new_order.c.id)
            .values(order_index=new_order.c.position - 1)
        )
        items = (
            await uow.conn.execute(
                sa.select(playlist_items)
                .where(playlist_items.c.playlist_id == playlist_id)
                .order_by(playlist_items.c.order_index)
            )
        ).all()
        await record(
            uow.conn,
            actor,
            action="playlist.reorder",
            target_type="playlist",
            target_id=playlist_id,
            before={"item_ids": before},
            after={"item_ids": list(item_ids)},
        )
        await _changed(services, uow, playlist_id)
        await uow.commit()
    return [PlaylistItem.from_row(row) for row in items]


def _check_permutation(current: Sequence[uuid.UUID], proposed: Sequence[uuid.UUID]) -> None:
    errors = FieldErrors()
    known = set(current)
    seen: set[uuid.UUID] = set()
    for index, item_id in enumerate(proposed):
        if item_id in seen:
            errors.add(f"itemIds[{index}]", "duplicate", "this item is listed twice")
        elif item_id not in known:
            errors.add(f"itemIds[{index}]", "not_in_playlist", "this item is not in the playlist")
        seen.add(item_id)
    missing = known - seen
    if missing:
        errors.add(
            "itemIds",
            "missing_items",
            f"{len(missing)} item(s) of the playlist are not listed; list every item once",
        )
    errors.raise_if_any()
