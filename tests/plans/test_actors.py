"""The planning actors on a StubBroker with a real worker: fan-out, idempotence, rolls."""

from __future__ import annotations

from datetime import timedelta

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import TargetType
from core.plans import cached_etag, regenerate
from tests.plans.builders import add_devices, add_schedule, make_world, plan_rows
from tests.plans.conftest import Planning
from workers import plans


async def test_regenerate_plans_stores_plans_and_etags(
    services: Services, stub_planning: Planning
) -> None:
    world = await make_world(services, 3)
    stub_planning.actors.regenerate_plans.send([str(d) for d in world.device_ids])
    await stub_planning.join()
    rows = await plan_rows(services)
    assert set(rows) == set(world.device_ids)
    for device_id, row in rows.items():
        assert await cached_etag(services, device_id) == row.etag


async def test_regenerating_twice_is_harmless(services: Services, stub_planning: Planning) -> None:
    world = await make_world(services, 2)
    ids = [str(d) for d in world.device_ids]
    stub_planning.actors.regenerate_plans.send(ids)
    stub_planning.actors.regenerate_plans.send(ids)  # at-least-once delivery
    await stub_planning.join()
    first = await plan_rows(services)
    stub_planning.actors.regenerate_plans.send(ids)
    await stub_planning.join()
    again = await plan_rows(services)
    assert len(again) == 2
    for device_id in world.device_ids:
        assert again[device_id].etag == first[device_id].etag
        assert again[device_id].generated_at == first[device_id].generated_at
    # One engine computation for both devices and all three deliveries.
    assert stub_planning.computer.computations == 1


async def test_a_change_fans_out_in_chunks_of_at_most_1000(
    services: Services, stub_planning: Planning
) -> None:
    world = await make_world(services, 2)
    extra = await add_devices(services, 2300, store_id=world.store_id, group_id=world.group_id)
    stub_planning.actors.plan_inputs_changed.send("schedule", [str(world.schedule_id)])
    await stub_planning.join()
    batches = stub_planning.processed.of("regenerate_plans")
    assert sorted(len(args[0]) for args in batches) == [302, 1000, 1000]
    assert {d for args in batches for d in args[0]} == {str(d) for d in world.device_ids + extra}
    assert len(await plan_rows(services)) == 2302
    assert stub_planning.computer.computations == 1  # shared by all 2,302 devices


async def test_only_affected_devices_are_recomputed(
    services: Services, stub_planning: Planning
) -> None:
    world = await make_world(services, 2)
    other = await make_world(services, 2)
    await add_schedule(
        services,
        target_type=TargetType.DEVICE,
        target_id=world.device_ids[0],
        playlist_id=world.fallback_playlist,
    )
    stub_planning.actors.plan_inputs_changed.send("device", [str(world.device_ids[0])])
    await stub_planning.join()
    assert set(await plan_rows(services)) == {world.device_ids[0]}
    assert other.device_ids[0] not in await plan_rows(services)


async def test_unknown_kinds_and_malformed_ids_are_dropped_not_retried(
    services: Services, stub_planning: Planning
) -> None:
    world = await make_world(services, 1)
    stub_planning.actors.plan_inputs_changed.send("weather", ["x"])
    stub_planning.actors.plan_inputs_changed.send("group", ["not-a-uuid", str(world.group_id)])
    await stub_planning.join()  # fails fast if anything was dead-lettered
    assert set(await plan_rows(services)) == set(world.device_ids)
    assert stub_planning.broker.dead_letters == []


async def test_the_periodic_roll_moves_stale_horizons_forward(
    services: Services, clock: FrozenClock, stub_planning: Planning
) -> None:
    world = await make_world(services, 3)
    await regenerate(services, world.device_ids)
    before = await plan_rows(services)
    stub_planning.actors.roll_plan_horizons.send()
    await stub_planning.join()
    assert stub_planning.processed.of("regenerate_plans") == []  # nothing is stale yet

    clock.advance(timedelta(days=1))
    stub_planning.actors.roll_plan_horizons.send()
    stub_planning.actors.roll_plan_horizons.send()  # a second tick enqueues nothing more
    await stub_planning.join()
    assert len(stub_planning.processed.of("regenerate_plans")) == 1
    after = await plan_rows(services)
    for device_id in world.device_ids:
        assert after[device_id].valid_to == before[device_id].valid_to + timedelta(days=1)
        assert after[device_id].etag != before[device_id].etag
        assert await cached_etag(services, device_id) == after[device_id].etag


def test_the_process_actors_are_declared_with_explicit_options() -> None:
    for actor, retries in (
        (plans.regenerate_plans, 10),
        (plans.plan_inputs_changed, 10),
        (plans.roll_plan_horizons, 3),
    ):
        assert actor.queue_name == "planning"
        assert actor.options["max_retries"] == retries
        assert actor.options["time_limit"] > 0
    assert plans.regenerate_plans.actor_name == "regenerate_plans"
