"""Regeneration: the seeds' plan acceptance, ETag stability, sharing and batching."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import orjson
import pytest

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import DeviceStatus, TargetType
from core.db.tables import devices, playout_plans, schedules
from core.errors import NotFound
from core.plans import PlanComputer, cached_etag, get_plan, regenerate
from tests.graphql_api.helpers import count_queries
from tests.plans.builders import (
    Item,
    add_content,
    add_devices,
    add_group,
    add_playlist,
    add_schedule,
    add_version,
    make_world,
    plan_rows,
    update,
)

HOURS_72 = timedelta(hours=72)


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def test_plan_is_generated_for_the_next_72_hours(
    services: Services, clock: FrozenClock
) -> None:
    world = await make_world(services)
    report = await regenerate(services, world.device_ids, computer=PlanComputer())
    assert report.devices == 3 and report.written == 3
    rows = await plan_rows(services)
    assert set(rows) == set(world.device_ids)
    now = clock.now()
    for row in rows.values():
        assert row.valid_from <= now and row.valid_to - now >= HOURS_72
        assert row.generated_at == now
        windows = row.plan_json["windows"]
        # The default playlist fills every gap, so the windows tile the horizon exactly.
        assert parse(windows[0]["start"]) <= now
        assert parse(windows[-1]["end"]) >= now + HOURS_72
        for before, after in pairwise(windows):
            assert before["end"] == after["start"]
    # Monday 10:00 UTC is 11:00 in Berlin: the weekday 09:00-17:00 schedule plays.
    plan = rows[world.device_ids[0]].plan_json
    current = next(w for w in plan["windows"] if parse(w["start"]) <= now < parse(w["end"]))
    assert current["schedule_ids"] == [str(world.schedule_id)]
    assert current["start"] == "2026-03-02T08:00:00Z" and current["end"] == "2026-03-02T16:00:00Z"


async def test_etag_is_stable_while_inputs_are_unchanged(
    services: Services, clock: FrozenClock
) -> None:
    world = await make_world(services)
    first = await regenerate(services, world.device_ids, computer=PlanComputer())
    rows = await plan_rows(services)

    again = await regenerate(services, world.device_ids, computer=PlanComputer())
    assert again.written == 0  # nothing rewritten
    clock.advance(timedelta(hours=13, minutes=59))  # 23:59 the same UTC day
    later = await regenerate(services, world.device_ids, computer=PlanComputer())
    assert later.written == 0
    after = await plan_rows(services)
    for device_id in world.device_ids:
        assert first.plans[device_id].etag == later.plans[device_id].etag
        assert after[device_id].etag == rows[device_id].etag
        assert after[device_id].generated_at == rows[device_id].generated_at


async def test_the_horizon_rolls_at_the_boundary_only(
    services: Services, clock: FrozenClock
) -> None:
    world = await make_world(services, 1)
    [device] = world.device_ids
    first = (await regenerate(services, [device])).plans[device]
    clock.advance(timedelta(hours=14, minutes=1))  # 00:01 the next UTC day
    rolled = (await regenerate(services, [device])).plans[device]
    assert rolled.etag != first.etag
    assert rolled.valid_from == first.valid_from + timedelta(days=1)
    assert rolled.valid_to == first.valid_to + timedelta(days=1)


async def test_a_change_that_alters_what_plays_gives_a_new_etag(services: Services) -> None:
    world = await make_world(services, 2)
    other = await make_world(services, 2)
    everyone = world.device_ids + other.device_ids
    before = await regenerate(services, everyone)
    await update(
        services,
        schedules,
        world.schedule_id,
        rules_json={"dayparts": [{"weekdays": [1, 2, 3, 4, 5], "start": "10:00", "end": "18:00"}]},
    )
    after = await regenerate(services, everyone)
    assert after.written == 2  # only the changed group's rows are rewritten
    for device_id in world.device_ids:
        assert after.plans[device_id].etag != before.plans[device_id].etag
    for device_id in other.device_ids:
        assert after.plans[device_id].etag == before.plans[device_id].etag


async def test_devices_with_identical_inputs_share_one_computation(services: Services) -> None:
    world = await make_world(services, 50)
    computer = PlanComputer()
    report = await regenerate(services, world.device_ids, computer=computer)
    assert computer.computations == 1 and report.distinct_inputs == 1
    rows = await plan_rows(services)
    assert len({row.etag for row in rows.values()}) == 1

    # A device with its own schedule has inputs of its own: one more computation.
    special = world.device_ids[7]
    await add_schedule(
        services,
        target_type=TargetType.DEVICE,
        target_id=special,
        playlist_id=world.fallback_playlist,
        priority=5,
    )
    computer = PlanComputer()
    report = await regenerate(services, world.device_ids, computer=computer)
    assert computer.computations == 2 and report.written == 1
    rows = await plan_rows(services)
    assert len({row.etag for row in rows.values()}) == 2


async def test_regeneration_is_batched_with_a_constant_number_of_statements(
    services: Services,
) -> None:
    world = await make_world(services, 10)
    with count_queries(services) as one_batch:
        report = await regenerate(services, world.device_ids, computer=PlanComputer())
    assert report.batches == 1
    single = await make_world(services, 1)
    with count_queries(services) as single_device:
        await regenerate(services, single.device_ids, computer=PlanComputer())
    # Ten devices cost what one device costs: no statement per device.
    assert one_batch.count == single_device.count
    upserts = [s for s in one_batch.statements if "INSERT INTO playout_plans" in s]
    assert len(upserts) == 1

    await update(services, schedules, world.schedule_id, priority=3)
    with count_queries(services) as batched:
        report = await regenerate(services, world.device_ids, batch_size=4)
    assert report.batches == 3 and report.written == 10
    upserts = [s for s in batched.statements if "INSERT INTO playout_plans" in s]
    assert len(upserts) == 3


async def test_the_etag_of_every_device_is_cached_in_redis(services: Services) -> None:
    world = await make_world(services)
    await regenerate(services, world.device_ids)
    rows = await plan_rows(services)
    for device_id in world.device_ids:
        assert await cached_etag(services, device_id) == rows[device_id].etag


async def test_stored_plan_json_reproduces_its_etag(services: Services) -> None:
    """The body served from the JSONB copy is the canonical JSON the ETag hashes."""
    world = await make_world(services, 1)
    [device] = world.device_ids
    computed = (await regenerate(services, [device])).plans[device]
    served = await get_plan(services, device)  # from the stored row this time
    assert served.body == computed.body
    assert served.etag == "sha256-" + hashlib.sha256(served.body).hexdigest()[:32]
    assert orjson.loads(served.body) == (await plan_rows(services))[device].plan_json


async def test_a_device_without_a_plan_gets_one_on_demand(
    services: Services, clock: FrozenClock
) -> None:
    world = await make_world(services, 1)
    [device] = world.device_ids
    assert await plan_rows(services) == {}
    plan = await get_plan(services, device)
    rows = await plan_rows(services)
    assert rows[device].etag == plan.etag
    assert await cached_etag(services, device) == plan.etag


async def test_a_plan_short_of_72_hours_is_regenerated_on_demand(
    services: Services, clock: FrozenClock
) -> None:
    world = await make_world(services, 1)
    [device] = world.device_ids
    await regenerate(services, [device])
    # The roll job missed a boundary: the stored plan no longer covers 72 h.
    clock.advance(timedelta(days=1, hours=8))
    plan = await get_plan(services, device)
    row = (await plan_rows(services))[device]
    assert row.etag == plan.etag and row.valid_to - clock.now() >= HOURS_72


async def test_unknown_and_decommissioned_devices_get_no_plan(services: Services) -> None:
    world = await make_world(services, 2)
    gone = world.device_ids[0]
    async with services.engine.begin() as conn:
        await conn.execute(
            devices.update()
            .where(devices.c.id == gone)
            .values(status=DeviceStatus.DECOMMISSIONED.value)
        )
    report = await regenerate(services, world.device_ids)
    assert set(report.plans) == {world.device_ids[1]}
    with pytest.raises(NotFound):
        await get_plan(services, gone)
    assert gone not in await plan_rows(services)


async def test_follow_latest_items_pick_up_a_new_version_and_pinned_ones_do_not(
    services: Services,
) -> None:
    latest_content, _ = await add_content(services, "latest")
    pinned_content, [pinned_v1] = await add_content(services, "pinned")
    follow = await add_playlist(services, Item(latest_content))
    pinned = await add_playlist(services, Item(pinned_content, pinned_v1))
    following_group = await add_group(services, follow)
    pinned_group = await add_group(services, pinned)
    [a] = await add_devices(services, 1, store_id=None, group_id=following_group)
    [b] = await add_devices(services, 1, store_id=None, group_id=pinned_group)
    before = await regenerate(services, [a, b])

    await add_version(services, latest_content, 2)
    await add_version(services, pinned_content, 2)
    after = await regenerate(services, [a, b])
    assert after.plans[a].etag != before.plans[a].etag
    assert after.plans[a].plan["items"][0]["version"] == 2
    assert after.plans[b].etag == before.plans[b].etag
    assert after.plans[b].plan["items"][0]["version"] == 1


async def test_a_device_without_schedules_or_default_gets_an_empty_plan(
    services: Services, clock: FrozenClock
) -> None:
    [device] = await add_devices(services, 1, store_id=None, group_id=None)
    plan = await get_plan(services, device)
    assert plan.plan["windows"] == [] and plan.plan["timezone"] == "UTC"
    assert plan.valid_to - clock.now() >= HOURS_72


async def test_playout_plans_has_one_row_per_device(services: Services) -> None:
    world = await make_world(services, 3)
    for _ in range(3):
        await regenerate(services, world.device_ids)
    async with services.engine.connect() as conn:
        count = (
            await conn.execute(playout_plans.select().with_only_columns(playout_plans.c.id))
        ).all()
    assert len(count) == 3
