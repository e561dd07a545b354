"""Campaign use cases. A campaign bounds when its schedules may play, so every change is
announced to the planner."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.audit.writes import insert_audited, update_audited
from core.bootstrap import Services
from core.campaigns.models import Campaign, CampaignFilter, CampaignInput
from core.db.enums import PlanChangeKind
from core.db.rows import get_by_id
from core.db.tables import campaigns, playlists, schedules
from core.db.uow import UnitOfWork
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.validation import FieldErrors, clean_name, contains_pattern

MAX_CAMPAIGN_DAYS = 3660  # ten years: anything longer is a typo in the year


def _validated(data: CampaignInput) -> dict[str, object]:
    errors = FieldErrors()
    values: dict[str, object] = {
        "brand_name": clean_name(errors, data.brand_name, field_name="brandName"),
        "name": clean_name(errors, data.name),
        "start_date": data.start_date,
        "end_date": data.end_date,
    }
    if data.end_date < data.start_date:
        errors.add("endDate", "invalid_date_range", "endDate is before startDate")
    elif (data.end_date - data.start_date).days > MAX_CAMPAIGN_DAYS:
        errors.add("endDate", "out_of_range", f"a campaign lasts at most {MAX_CAMPAIGN_DAYS} days")
    errors.raise_if_any()
    return values


async def create_campaign(services: Services, actor: Actor, data: CampaignInput) -> Campaign:
    actor.require(Permission.MANAGE_FLEET)
    values = _validated(data)
    now = services.clock.now()
    async with services.uow() as uow:
        created = await insert_audited(
            uow.conn,
            actor,
            campaigns,
            values,
            at=now,
            build=Campaign.from_row,
            target_type="campaign",
        )
        await uow.commit()
    return created


async def update_campaign(
    services: Services, actor: Actor, campaign_id: uuid.UUID, data: CampaignInput
) -> Campaign:
    """Replace every editable field (the console edits a campaign as one form)."""
    actor.require(Permission.MANAGE_FLEET)
    values = _validated(data)
    async with services.uow() as uow:
        after = await update_audited(
            uow.conn,
            actor,
            campaigns,
            await _locked(uow.conn, campaign_id),
            values,
            at=services.clock.now(),
            build=Campaign.from_row,
            target_type="campaign",
        )
        await _announce(services, uow, campaign_id)
        await uow.commit()
    return after


async def delete_campaign(services: Services, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    """Playlists and schedules keep existing, detached from the campaign (FK SET NULL)."""
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        before = await _locked(uow.conn, campaign_id)
        # Announce before deleting: afterwards the schedules no longer point at the campaign.
        await _announce(services, uow, campaign_id)
        await uow.conn.execute(sa.delete(campaigns).where(campaigns.c.id == campaign_id))
        await record(
            uow.conn,
            actor,
            action="campaign.delete",
            target_type="campaign",
            target_id=campaign_id,
            before=dataclasses.asdict(before),
        )
        await uow.commit()
    return before


async def _announce(services: Services, uow: UnitOfWork, campaign_id: uuid.UUID) -> None:
    """The campaign, plus every schedule it bounds directly or through its playlists, so the
    planner still finds them once a delete has detached them (FK SET NULL)."""
    affected = (
        await uow.conn.execute(
            sa.select(schedules.c.id).where(
                sa.or_(
                    schedules.c.campaign_id == campaign_id,
                    schedules.c.playlist_id.in_(
                        sa.select(playlists.c.id).where(playlists.c.campaign_id == campaign_id)
                    ),
                )
            )
        )
    ).scalars()
    await notify_plan_inputs_changed(uow, services, PlanChangeKind.CAMPAIGN, [campaign_id])
    schedule_ids = list(affected)
    if schedule_ids:
        await notify_plan_inputs_changed(uow, services, PlanChangeKind.SCHEDULE, schedule_ids)


async def _locked(conn: AsyncConnection, campaign_id: uuid.UUID) -> Campaign:
    row = await get_by_id(conn, campaigns, campaign_id, what="campaign", lock=True)
    return Campaign.from_row(row)


async def get_campaign(conn: AsyncConnection, campaign_id: uuid.UUID) -> Campaign:
    return Campaign.from_row(await get_by_id(conn, campaigns, campaign_id, what="campaign"))


CAMPAIGN_SORT_NAME = sa.func.lower(campaigns.c.name).label("sort_name")


def campaigns_query(flt: CampaignFilter) -> sa.Select[Any]:
    """Campaigns matching `flt` with their `sort_name`, unordered: the caller pages it."""
    query = sa.select(campaigns, CAMPAIGN_SORT_NAME)
    if flt.search and flt.search.strip():
        pattern = contains_pattern(flt.search)
        query = query.where(
            sa.or_(
                campaigns.c.name.ilike(pattern, escape="\\"),
                campaigns.c.brand_name.ilike(pattern, escape="\\"),
            )
        )
    if flt.active_on is not None:
        query = query.where(
            campaigns.c.start_date <= flt.active_on, campaigns.c.end_date >= flt.active_on
        )
    return query
