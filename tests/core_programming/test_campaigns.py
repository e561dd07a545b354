"""Campaigns: validated dates, edits, deletion detaching playlists and schedules."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.campaigns.models import CampaignFilter, CampaignInput
from core.campaigns.service import (
    campaigns_query,
    create_campaign,
    delete_campaign,
    get_campaign,
    update_campaign,
)
from core.db.tables import campaigns, playlists, schedules
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.kernel.actor import Actor
from core.playlists.service import create_playlist
from core.schedules.models import ScheduleInput
from core.schedules.service import create_schedule
from tests.core_programming.conftest import Fleet, PlanInputsListener
from tests.core_programming.helpers import audit_rows

SUMMER = CampaignInput("Acme", "Summer", date(2026, 6, 1), date(2026, 8, 31))


async def test_create_update_and_audit(services: Services, admin: Actor) -> None:
    created = await create_campaign(services, admin, SUMMER)
    assert (created.brand_name, created.name) == ("Acme", "Summer")
    updated = await update_campaign(
        services,
        admin,
        created.id,
        CampaignInput(" Acme Corp ", "Summer sale", date(2026, 6, 1), date(2026, 9, 15)),
    )
    assert (updated.brand_name, updated.name, updated.end_date) == (
        "Acme Corp",
        "Summer sale",
        date(2026, 9, 15),
    )
    [create_row] = await audit_rows(services, "campaign.create")
    [update_row] = await audit_rows(services, "campaign.update")
    assert create_row.target_id == str(created.id)
    assert update_row.details_json["before"]["end_date"] == "2026-08-31"
    assert update_row.details_json["after"]["end_date"] == "2026-09-15"


async def test_invalid_input_lists_every_field(services: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as info:
        await create_campaign(
            services, admin, CampaignInput("", "x" * 201, date(2026, 2, 1), date(2026, 1, 1))
        )
    assert {(e["field"], e["code"]) for e in info.value.errors} == {
        ("brandName", "required"),
        ("name", "too_long"),
        ("endDate", "invalid_date_range"),
    }
    with pytest.raises(ValidationFailed):
        await create_campaign(
            services, admin, CampaignInput("a", "b", date(2026, 1, 1), date(2046, 1, 1))
        )
    with pytest.raises(NotFound):
        await update_campaign(services, admin, uuid.uuid4(), SUMMER)
    with pytest.raises(NotFound):
        await delete_campaign(services, admin, uuid.uuid4())


async def test_delete_detaches_and_announces_affected_schedules(
    services: Services, admin: Actor, fleet: Fleet, plan_inputs: PlanInputsListener
) -> None:
    campaign = await create_campaign(services, admin, SUMMER)
    playlist = await create_playlist(services, admin, name="Promo", campaign_id=campaign.id)
    via_playlist = await create_schedule(
        services,
        admin,
        ScheduleInput(target_type="GROUP", target_id=fleet.group_id, playlist_id=playlist.id),
    )
    other = await create_playlist(services, admin, name="Other")
    direct = await create_schedule(
        services,
        admin,
        ScheduleInput(
            target_type="DEVICE",
            target_id=fleet.device_id,
            playlist_id=other.id,
            campaign_id=campaign.id,
        ),
    )
    await plan_inputs.drain()

    await delete_campaign(services, admin, campaign.id)

    messages = await plan_inputs.drain()
    assert {"kind": "campaign", "ids": [str(campaign.id)]} in messages
    [schedule_msg] = [m for m in messages if m["kind"] == "schedule"]
    assert set(schedule_msg["ids"]) == {str(via_playlist.id), str(direct.id)}
    async with services.engine.connect() as conn:
        assert (
            await conn.execute(
                sa.select(playlists.c.campaign_id).where(playlists.c.id == playlist.id)
            )
        ).scalar_one() is None
        assert (
            await conn.execute(
                sa.select(schedules.c.campaign_id).where(schedules.c.id == direct.id)
            )
        ).scalar_one() is None
        with pytest.raises(NotFound):
            await get_campaign(conn, campaign.id)
    [row] = await audit_rows(services, "campaign.delete")
    assert row.details_json["before"]["name"] == "Summer"


async def test_query_filters(services: Services, operator: Actor) -> None:
    await create_campaign(services, operator, SUMMER)
    await create_campaign(
        services, operator, CampaignInput("Globex", "Winter", date(2026, 12, 1), date(2027, 2, 1))
    )
    async with services.engine.connect() as conn:

        async def names(flt: CampaignFilter) -> list[str]:
            rows = await conn.execute(campaigns_query(flt).order_by(campaigns.c.name))
            return [row.name for row in rows]

        assert await names(CampaignFilter()) == ["Summer", "Winter"]
        assert await names(CampaignFilter(search="globex")) == ["Winter"]
        assert await names(CampaignFilter(active_on=date(2026, 7, 4))) == ["Summer"]
        assert await names(CampaignFilter(active_on=date(2026, 10, 1))) == []


async def test_viewer_cannot_write(services: Services, admin: Actor, viewer: Actor) -> None:
    created = await create_campaign(services, admin, SUMMER)
    with pytest.raises(PermissionDenied):
        await create_campaign(services, viewer, SUMMER)
    with pytest.raises(PermissionDenied):
        await update_campaign(services, viewer, created.id, SUMMER)
    with pytest.raises(PermissionDenied):
        await delete_campaign(services, viewer, created.id)
