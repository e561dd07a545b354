"""Which devices each kind of change touches (and nothing more), in one query."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import DeviceStatus, TargetType
from core.plans import UnknownChangeKind, affected_devices, devices_needing_roll, regenerate
from tests.graphql_api.helpers import count_queries
from tests.plans.builders import (
    Item,
    add_campaign,
    add_content,
    add_devices,
    add_group,
    add_playlist,
    add_schedule,
    add_store,
)


async def affected(services: Services, kind: str, *ids: uuid.UUID) -> set[uuid.UUID]:
    async with services.engine.connect() as conn:
        with count_queries(services) as queries:
            found = await affected_devices(conn, kind, list(ids))
    assert queries.count == 1  # set-based, whatever the number of devices
    assert found == sorted(found)
    return set(found)


async def test_fleet_changes(services: Services) -> None:
    berlin, tokyo = await add_store(services), await add_store(services, "Asia/Tokyo")
    group_a, group_b = await add_group(services), await add_group(services)
    a1, a2 = await add_devices(services, 2, store_id=berlin, group_id=group_a)
    [b1] = await add_devices(services, 1, store_id=tokyo, group_id=group_b)
    [retired] = await add_devices(
        services, 1, store_id=berlin, group_id=group_a, status=DeviceStatus.DECOMMISSIONED
    )
    assert await affected(services, "device", a1, retired) == {a1}
    assert await affected(services, "group", group_a) == {a1, a2}
    assert await affected(services, "store", tokyo) == {b1}
    assert await affected(services, "store", berlin, tokyo) == {a1, a2, b1}
    assert await affected(services, "group", uuid.uuid4()) == set()


async def test_schedules_reach_their_target(services: Services) -> None:
    content_id, _ = await add_content(services)
    playlist = await add_playlist(services, Item(content_id))
    group, other_group = await add_group(services), await add_group(services)
    g1, g2 = await add_devices(services, 2, store_id=None, group_id=group)
    [o1] = await add_devices(services, 1, store_id=None, group_id=other_group)
    group_schedule = await add_schedule(
        services, target_type=TargetType.GROUP, target_id=group, playlist_id=playlist
    )
    device_schedule = await add_schedule(
        services,
        target_type=TargetType.DEVICE,
        target_id=o1,
        playlist_id=playlist,
        enabled=False,  # disabling is a change too: its target must be recomputed
    )
    assert await affected(services, "schedule", group_schedule) == {g1, g2}
    assert await affected(services, "schedule", device_schedule) == {o1}
    assert await affected(services, "schedule", group_schedule, device_schedule) == {g1, g2, o1}
    assert await affected(services, "schedule", uuid.uuid4()) == set()  # deleted meanwhile


async def test_playlists_reach_schedules_and_group_defaults(services: Services) -> None:
    content_id, _ = await add_content(services)
    scheduled = await add_playlist(services, Item(content_id))
    default = await add_playlist(services, Item(content_id))
    unused = await add_playlist(services, Item(content_id))
    scheduled_group = await add_group(services)
    default_group = await add_group(services, default)
    [s1] = await add_devices(services, 1, store_id=None, group_id=scheduled_group)
    [d1] = await add_devices(services, 1, store_id=None, group_id=default_group)
    await add_schedule(
        services, target_type=TargetType.GROUP, target_id=scheduled_group, playlist_id=scheduled
    )
    assert await affected(services, "playlist", scheduled) == {s1}
    assert await affected(services, "playlist", default) == {d1}
    assert await affected(services, "playlist", unused) == set()


async def test_content_reaches_playlists_that_follow_its_latest_version(
    services: Services,
) -> None:
    clip, [v1, v2] = await add_content(services, versions=2)
    other, [other_v1] = await add_content(services)
    follows = await add_playlist(services, Item(clip))
    pins_v1 = await add_playlist(services, Item(clip, v1))
    pins_other = await add_playlist(services, Item(other, other_v1))
    devices_by_playlist: dict[uuid.UUID, uuid.UUID] = {}
    for playlist in (follows, pins_v1, pins_other):
        group = await add_group(services, playlist)  # as the default playlist
        [device] = await add_devices(services, 1, store_id=None, group_id=group)
        devices_by_playlist[playlist] = device
    # A new version of `clip`: only the playlist following the latest version changes.
    assert await affected(services, "content", clip) == {devices_by_playlist[follows]}
    # A specific version: playlists pinning it, and those following its content.
    assert await affected(services, "content_version", v1) == {
        devices_by_playlist[follows],
        devices_by_playlist[pins_v1],
    }
    assert await affected(services, "content_version", v2) == {devices_by_playlist[follows]}
    assert await affected(services, "content_version", other_v1) == {
        devices_by_playlist[pins_other]
    }


async def test_campaigns_reach_schedules_playlists_and_defaults(services: Services) -> None:
    campaign = await add_campaign(services, date(2026, 1, 1), date(2026, 6, 30))
    content_id, _ = await add_content(services)
    plain = await add_playlist(services, Item(content_id))
    in_campaign = await add_playlist(services, Item(content_id), campaign_id=campaign)
    by_schedule, by_playlist, by_default, untouched = (
        await add_group(services),
        await add_group(services),
        await add_group(services, in_campaign),
        await add_group(services, plain),
    )
    devices = {}
    for group in (by_schedule, by_playlist, by_default, untouched):
        [devices[group]] = await add_devices(services, 1, store_id=None, group_id=group)
    await add_schedule(
        services,
        target_type=TargetType.GROUP,
        target_id=by_schedule,
        playlist_id=plain,
        campaign_id=campaign,
    )
    await add_schedule(
        services, target_type=TargetType.GROUP, target_id=by_playlist, playlist_id=in_campaign
    )
    await add_schedule(
        services, target_type=TargetType.GROUP, target_id=untouched, playlist_id=plain
    )
    assert await affected(services, "campaign", campaign) == {
        devices[by_schedule],
        devices[by_playlist],
        devices[by_default],
    }


async def test_unknown_kinds_are_refused(services: Services) -> None:
    async with services.engine.connect() as conn:
        with pytest.raises(UnknownChangeKind):
            await affected_devices(conn, "weather", [uuid.uuid4()])
        assert await affected_devices(conn, "group", []) == []


async def test_plans_made_for_an_earlier_boundary_need_a_roll(
    services: Services, clock: FrozenClock
) -> None:
    content_id, _ = await add_content(services)
    group = await add_group(services, await add_playlist(services, Item(content_id)))
    first = await add_devices(services, 2, store_id=None, group_id=group)
    await regenerate(services, first)
    async with services.engine.connect() as conn:
        assert await devices_needing_roll(conn, clock.now()) == []
        # Later the same UTC day: still current.
        assert await devices_needing_roll(conn, clock.now() + timedelta(hours=13)) == []
    clock.advance(timedelta(days=1))
    later = await add_devices(services, 1, store_id=None, group_id=group)
    await regenerate(services, later)  # made for the new boundary
    async with services.engine.connect() as conn:
        assert await devices_needing_roll(conn, clock.now()) == sorted(first)
