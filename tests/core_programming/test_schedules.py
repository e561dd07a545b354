"""Schedules: precise validation, referenced rows checked, changes announced to the planner."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from core.bootstrap import Services
from core.campaigns.models import CampaignInput
from core.campaigns.service import create_campaign
from core.db.enums import TargetType
from core.db.tables import schedules
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.kernel.actor import Actor
from core.playlists.models import Playlist
from core.playlists.service import create_playlist
from core.schedules.models import ScheduleFilter, ScheduleInput
from core.schedules.service import (
    create_schedule,
    delete_schedule,
    get_schedule,
    schedules_query,
    set_schedule_enabled,
    update_schedule,
)
from tests.core_programming.conftest import Fleet, PlanInputsListener
from tests.core_programming.helpers import audit_rows

RULES = {
    "dayparts": [{"weekdays": [5, 1], "start": "22:00", "end": "02:00"}],
    "date_ranges": [{"start": "2026-03-01", "end": "2026-06-30"}],
    "exclusions": ["2026-04-05", {"start": "2026-05-01", "end": "2026-05-03"}],
    "frequency_caps": [{"scope": "ITEM", "max_plays": 4, "per_seconds": 3600}],
}


@pytest.fixture
async def playlist(services: Services, admin: Actor) -> Playlist:
    return await create_playlist(services, admin, name="Evening")


def group_input(fleet: Fleet, playlist: Playlist, **overrides: object) -> ScheduleInput:
    base: dict[str, object] = {
        "target_type": "GROUP",
        "target_id": fleet.group_id,
        "playlist_id": playlist.id,
        "name": "Late night",
        "rules": RULES,
    }
    return ScheduleInput(**(base | overrides))  # type: ignore[arg-type]


async def test_create_stores_canonical_rules_and_announces_targets(
    services: Services,
    admin: Actor,
    fleet: Fleet,
    playlist: Playlist,
    plan_inputs: PlanInputsListener,
) -> None:
    created = await create_schedule(
        services, admin, group_input(fleet, playlist, timezone="Europe/Berlin", priority=10)
    )
    assert created.target_type is TargetType.GROUP
    assert (created.timezone, created.priority, created.enabled) == ("Europe/Berlin", 10, True)
    assert created.rules["dayparts"][0]["weekdays"] == [1, 5]  # canonical order
    assert created.rules["exclusions"][0] == "2026-04-05"
    messages = await plan_inputs.drain()
    assert {"kind": "schedule", "ids": [str(created.id)]} in messages
    assert {"kind": "group", "ids": [str(fleet.group_id)]} in messages
    [row] = await audit_rows(services, "schedule.create")
    assert row.target_id == str(created.id)
    assert row.details_json["after"]["rules"]["frequency_caps"][0]["max_plays"] == 4


async def test_timezone_defaults_to_the_store(
    services: Services, admin: Actor, fleet: Fleet, playlist: Playlist
) -> None:
    created = await create_schedule(
        services,
        admin,
        ScheduleInput(
            target_type="device", target_id=fleet.device_id, playlist_id=playlist.id, timezone=" "
        ),
    )
    assert created.timezone is None
    assert created.rules == {
        "dayparts": [],
        "date_ranges": [],
        "exclusions": [],
        "frequency_caps": [],
    }


async def test_every_invalid_field_is_reported_with_its_path(
    services: Services, admin: Actor, fleet: Fleet, playlist: Playlist
) -> None:
    bad_rules = {
        "dayparts": [{"weekdays": [1, 8], "start": "25:00", "end": "10:00"}],
        "frequency_caps": [{"scope": "ITEM", "max_plays": 0, "per_seconds": 60}],
        "surprise": True,
    }
    with pytest.raises(ValidationFailed) as info:
        await create_schedule(
            services,
            admin,
            group_input(
                fleet,
                playlist,
                target_type="STORE",
                timezone="Mars/Olympus",
                priority=1001,
                rules=bad_rules,
                valid_from=date(2026, 5, 1),
                valid_to=date(2026, 4, 1),
            ),
        )
    found = {(e["field"], e["code"]) for e in info.value.errors}
    assert {
        ("targetType", "invalid_choice"),
        ("priority", "out_of_range"),
        ("timezone", "invalid_timezone"),
        ("rules.dayparts[0].weekdays[1]", "out_of_range"),
        ("rules.dayparts[0].start", "invalid_time"),
        ("rules.frequency_caps[0].max_plays", "out_of_range"),
        ("rules.surprise", "unknown_field"),
        ("validTo", "invalid_date_range"),
    } <= found
    assert await audit_rows(services, "schedule.create") == []


async def test_references_must_exist(
    services: Services, admin: Actor, fleet: Fleet, playlist: Playlist
) -> None:
    cases = [
        (group_input(fleet, playlist, target_id=uuid.uuid4()), "targetId"),
        (group_input(fleet, playlist, target_type="DEVICE", target_id=uuid.uuid4()), "targetId"),
        (group_input(fleet, playlist, playlist_id=uuid.uuid4()), "playlistId"),
        (group_input(fleet, playlist, campaign_id=uuid.uuid4()), "campaignId"),
    ]
    for data, field in cases:
        with pytest.raises(NotFound) as info:
            await create_schedule(services, admin, data)
        assert info.value.field == field
    with pytest.raises(ValidationFailed) as invalid:
        await create_schedule(
            services,
            admin,
            group_input(fleet, playlist, target_type="DEVICE", target_id=fleet.retired_device_id),
        )
    assert invalid.value.errors[0]["code"] == "decommissioned"


async def test_update_enable_delete(
    services: Services,
    admin: Actor,
    fleet: Fleet,
    playlist: Playlist,
    plan_inputs: PlanInputsListener,
) -> None:
    created = await create_schedule(services, admin, group_input(fleet, playlist))
    campaign = await create_campaign(
        services, admin, CampaignInput("Acme", "Nights", date(2026, 3, 1), date(2026, 6, 30))
    )
    await plan_inputs.drain()

    moved = await update_schedule(
        services,
        admin,
        created.id,
        group_input(
            fleet,
            playlist,
            target_type="DEVICE",
            target_id=fleet.device_id,
            campaign_id=campaign.id,
            priority=-5,
        ),
    )
    assert (moved.target_type, moved.target_id, moved.campaign_id, moved.priority) == (
        TargetType.DEVICE,
        fleet.device_id,
        campaign.id,
        -5,
    )
    messages = await plan_inputs.drain()
    # Both the old target (group) and the new one (device) need new plans.
    assert {"kind": "group", "ids": [str(fleet.group_id)]} in messages
    assert {"kind": "device", "ids": [str(fleet.device_id)]} in messages

    disabled = await set_schedule_enabled(services, admin, created.id, enabled=False)
    assert not disabled.enabled
    assert {"kind": "schedule", "ids": [str(created.id)]} in await plan_inputs.drain()
    await set_schedule_enabled(services, admin, created.id, enabled=False)
    assert await plan_inputs.drain() == []  # nothing changed, nothing to recompute

    await delete_schedule(services, admin, created.id)
    assert {"kind": "device", "ids": [str(fleet.device_id)]} in await plan_inputs.drain()
    async with services.engine.connect() as conn:
        with pytest.raises(NotFound):
            await get_schedule(conn, created.id)
    actions = [r.action for r in await audit_rows(services) if r.target_type == "schedule"]
    assert actions == [
        "schedule.create",
        "schedule.update",
        "schedule.disable",
        "schedule.disable",
        "schedule.delete",
    ]
    with pytest.raises(NotFound):
        await update_schedule(services, admin, created.id, group_input(fleet, playlist))
    with pytest.raises(NotFound):
        await set_schedule_enabled(services, admin, created.id, enabled=True)
    with pytest.raises(NotFound):
        await delete_schedule(services, admin, created.id)


async def test_query_filters(
    services: Services, admin: Actor, fleet: Fleet, playlist: Playlist
) -> None:
    other = await create_playlist(services, admin, name="Other")
    campaign = await create_campaign(
        services, admin, CampaignInput("Acme", "Nights", date(2026, 3, 1), date(2026, 6, 30))
    )
    await create_schedule(services, admin, group_input(fleet, playlist, name="a"))
    await create_schedule(
        services,
        admin,
        group_input(
            fleet,
            other,
            name="b",
            target_type="DEVICE",
            target_id=fleet.device_id,
            campaign_id=campaign.id,
            enabled=False,
        ),
    )
    async with services.engine.connect() as conn:

        async def names(flt: ScheduleFilter) -> list[str]:
            rows = await conn.execute(schedules_query(flt).order_by(schedules.c.name))
            return [row.name for row in rows]

        assert await names(ScheduleFilter()) == ["a", "b"]
        assert await names(ScheduleFilter(target_type=TargetType.DEVICE)) == ["b"]
        assert await names(ScheduleFilter(target_id=fleet.group_id)) == ["a"]
        assert await names(ScheduleFilter(playlist_id=other.id)) == ["b"]
        assert await names(ScheduleFilter(campaign_id=campaign.id)) == ["b"]
        assert await names(ScheduleFilter(enabled=True)) == ["a"]


async def test_viewer_cannot_write(
    services: Services, admin: Actor, viewer: Actor, fleet: Fleet, playlist: Playlist
) -> None:
    created = await create_schedule(services, admin, group_input(fleet, playlist))
    attempts = [
        create_schedule(services, viewer, group_input(fleet, playlist)),
        update_schedule(services, viewer, created.id, group_input(fleet, playlist)),
        set_schedule_enabled(services, viewer, created.id, enabled=False),
        delete_schedule(services, viewer, created.id),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            await attempt
