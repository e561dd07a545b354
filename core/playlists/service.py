"""Playlist use cases: create, rename, attach to a campaign, delete."""

from __future__ import annotations

import dataclasses
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.audit.writes import insert_audited, update_audited
from core.bootstrap import Services
from core.db.enums import PlanChangeKind
from core.db.rows import get_by_id
from core.db.tables import campaigns, device_groups, playlists, schedules
from core.errors import Conflict
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.playlists.models import Playlist
from core.validation import FieldErrors, clean_name


class PlaylistInUse(Conflict):
    code = "playlist_in_use"


async def lock_playlist(conn: AsyncConnection, playlist_id: uuid.UUID, *, field: str) -> Playlist:
    """Row-lock the playlist: every change to it or its items is serialised on this lock."""
    row = await get_by_id(conn, playlists, playlist_id, what="playlist", field=field, lock=True)
    return Playlist.from_row(row)


async def _require_campaign(conn: AsyncConnection, campaign_id: uuid.UUID | None) -> None:
    if campaign_id is None:
        return
    await get_by_id(
        conn, campaigns, campaign_id, what="campaign", field="campaignId", columns=[campaigns.c.id]
    )


async def create_playlist(
    services: Services, actor: Actor, *, name: str, campaign_id: uuid.UUID | None = None
) -> Playlist:
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    clean = clean_name(errors, name)
    errors.raise_if_any()
    now = services.clock.now()
    async with services.uow() as uow:
        await _require_campaign(uow.conn, campaign_id)
        created = await insert_audited(
            uow.conn,
            actor,
            playlists,
            {"name": clean, "campaign_id": campaign_id},
            at=now,
            build=Playlist.from_row,
            target_type="playlist",
        )
        await uow.commit()
    return created


async def _update(
    services: Services,
    actor: Actor,
    playlist_id: uuid.UUID,
    *,
    action: str,
    values: dict[str, object],
    affects_plans: bool,
) -> Playlist:
    async with services.uow() as uow:
        before = await lock_playlist(uow.conn, playlist_id, field="id")
        campaign_id = values.get("campaign_id")
        if isinstance(campaign_id, uuid.UUID):
            await _require_campaign(uow.conn, campaign_id)
        after = await update_audited(
            uow.conn,
            actor,
            playlists,
            before,
            values,
            at=services.clock.now(),
            build=Playlist.from_row,
            target_type="playlist",
            action=action,
        )
        if affects_plans:
            await notify_plan_inputs_changed(uow, services, PlanChangeKind.PLAYLIST, [playlist_id])
        await uow.commit()
    return after


async def rename_playlist(
    services: Services, actor: Actor, playlist_id: uuid.UUID, *, name: str
) -> Playlist:
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    clean = clean_name(errors, name)
    errors.raise_if_any()
    return await _update(
        services,
        actor,
        playlist_id,
        action="playlist.rename",
        values={"name": clean},
        affects_plans=False,
    )


async def set_playlist_campaign(
    services: Services, actor: Actor, playlist_id: uuid.UUID, *, campaign_id: uuid.UUID | None
) -> Playlist:
    """Attach to a campaign, or detach with None (proof-of-play credits the campaign)."""
    actor.require(Permission.MANAGE_FLEET)
    return await _update(
        services,
        actor,
        playlist_id,
        action="playlist.set_campaign",
        values={"campaign_id": campaign_id},
        affects_plans=True,
    )


async def delete_playlist(services: Services, actor: Actor, playlist_id: uuid.UUID) -> Playlist:
    """Refused while schedules or group defaults use it: deleting would silently cascade
    into schedules (FK CASCADE) and blank screens."""
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        before = await lock_playlist(uow.conn, playlist_id, field="id")
        used_by_schedules = (
            await uow.conn.execute(
                sa.select(sa.func.count()).where(schedules.c.playlist_id == playlist_id)
            )
        ).scalar_one()
        used_by_groups = (
            await uow.conn.execute(
                sa.select(sa.func.count()).where(device_groups.c.default_playlist_id == playlist_id)
            )
        ).scalar_one()
        if used_by_schedules or used_by_groups:
            raise PlaylistInUse(
                f"the playlist is used by {used_by_schedules} schedule(s) and is the default "
                f"of {used_by_groups} group(s)",
                field="id",
                details={
                    "code": "in_use",  # the API's error code for this conflict
                    "schedules": used_by_schedules,
                    "groups": used_by_groups,
                },
            )
        await uow.conn.execute(sa.delete(playlists).where(playlists.c.id == playlist_id))
        await record(
            uow.conn,
            actor,
            action="playlist.delete",
            target_type="playlist",
            target_id=playlist_id,
            before=dataclasses.asdict(before),
        )
        await uow.commit()
    return before
