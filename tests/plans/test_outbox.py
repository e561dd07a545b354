"""Durable plan propagation: the outbox, its relay and the periodic reconciliation.

Every test runs the real actors on a real worker; the ones named "redis" go through the
Redis broker. "Redis unreachable" is a sink whose broker points at a port nobody listens on;
"Redis restarted empty" deletes the queue's keys and the cached ETags, as a restart without
persistence does.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import PlanChangeKind, Role
from core.db.tables import plan_changes, schedules
from core.devices.heartbeat import plan_etag_key
from core.kernel.actor import Actor
from core.plans import cached_etag, outbox, regenerate
from core.plans.triggers import install_sink
from core.schedules.service import set_schedule_enabled
from tests.graphql_api.helpers import create_user_and_token, mint_device_token
from tests.plans.builders import make_world, plan_rows
from tests.plans.conftest import Planning, WorkerServices
from workers.plans import declare_planning_actors, plan_trigger

HEARTBEAT: dict[str, Any] = {"now_playing": None, "disk_used_bytes": 1, "counters": {}}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sink_to_unreachable_redis(settings: Any, clock: FrozenClock) -> Iterator[None]:
    """The process's hand-off goes to a Redis that refuses connections."""
    broker = RedisBroker(
        url=f"redis://127.0.0.1:{_closed_port()}/0", socket_connect_timeout=1, socket_timeout=1
    )
    broker.add_middleware(AsyncIO())
    actors = declare_planning_actors(broker, services=WorkerServices(settings, clock))
    previous = install_sink(plan_trigger(actors.apply_plan_change))
    yield
    install_sink(previous)
    broker.close()


async def _operator(services: Services) -> Actor:
    user = await create_user_and_token(services, Role.OPERATOR)
    return Actor.user(user.id, Role.OPERATOR)


async def _changes(services: Services) -> list[Any]:
    async with services.engine.connect() as conn:
        return list((await conn.execute(sa.select(plan_changes).order_by(plan_changes.c.id))).all())


async def _heartbeat(
    edge: httpx.AsyncClient, services: Services, device: uuid.UUID, etag: str
) -> Any:
    headers = {"Authorization": f"Bearer {mint_device_token(services, device)}"}
    response = await edge.post(
        "/v1/device/heartbeat", json={**HEARTBEAT, "plan_etag": etag}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_change_is_recorded_with_its_transaction_and_only_then(
    services: Services,
) -> None:
    world = await make_world(services, 1)
    actor = await _operator(services)
    with pytest.raises(RuntimeError):
        async with services.uow() as uow:
            await outbox.record(
                uow.conn, PlanChangeKind.SCHEDULE, [world.schedule_id], services.clock.now()
            )
            raise RuntimeError("the use case failed")
    assert await _changes(services) == []

    await set_schedule_enabled(services, actor, world.schedule_id, enabled=False)
    recorded = await _changes(services)
    assert {(row.kind, tuple(row.target_ids)) for row in recorded} >= {
        ("schedule", (world.schedule_id,))
    }
    assert all(row.done_at is None for row in recorded)  # no worker in this test


async def test_a_change_committed_while_redis_is_unreachable_reaches_the_player(
    services: Services,
    clock: FrozenClock,
    edge_client: httpx.AsyncClient,
    redis_planning: Planning,
    sink_to_unreachable_redis: None,
) -> None:
    world = await make_world(services, 2)
    await regenerate(services, world.device_ids)
    device = world.device_ids[0]
    old = (await plan_rows(services))[device].etag

    # The hand-off fails, the use case does not: the change is durable in the outbox.
    await set_schedule_enabled(
        services, await _operator(services), world.schedule_id, enabled=False
    )
    assert (await plan_rows(services))[device].etag == old
    assert (await _heartbeat(edge_client, services, device, old))["plan_changed"] is False
    assert all(row.done_at is None for row in await _changes(services))

    # Redis is back; the relay's next run after the re-dispatch delay hands the change on.
    redis_planning.actors.relay_plan_changes.send()
    await redis_planning.join()
    assert redis_planning.processed.of("apply_plan_change") == []  # not overdue yet
    clock.advance(timedelta(seconds=services.settings.plan_outbox_redispatch_s))
    redis_planning.actors.relay_plan_changes.send()
    await redis_planning.join()

    new = (await plan_rows(services))[device].etag
    assert new != old
    beat = await _heartbeat(edge_client, services, device, old)
    assert beat["plan_changed"] is True
    assert beat["plan_etag"] == new
    assert all(row.done_at is not None for row in await _changes(services))
    assert all(row.dispatches == 1 for row in await _changes(services))


async def test_a_change_queued_when_redis_restarts_empty_reaches_the_player(
    services: Services,
    settings: Any,
    clock: FrozenClock,
    redis_prefix: str,
    edge_client: httpx.AsyncClient,
    redis_planning: Planning,
) -> None:
    world = await make_world(services, 2)
    await regenerate(services, world.device_ids)
    device = world.device_ids[0]
    old = (await plan_rows(services))[device].etag

    # The hand-off lands in a queue no worker reads yet (the workers are stopped) ...
    assert settings.redis_url
    stopped = RedisBroker(url=settings.redis_url, namespace=f"{redis_prefix}stopped")
    stopped.add_middleware(AsyncIO())
    queued = declare_planning_actors(stopped, services=WorkerServices(settings, clock))
    previous = install_sink(plan_trigger(queued.apply_plan_change))
    try:
        await set_schedule_enabled(
            services, await _operator(services), world.schedule_id, enabled=False
        )
    finally:
        install_sink(previous)
        stopped.close()
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        waiting = [k async for k in redis.scan_iter(match=f"{redis_prefix}stopped*")]
        assert waiting, "the change should have been queued"
        # ... and Redis restarts empty: the queued message and every cached ETag are gone.
        await redis.delete(*waiting)
        await redis.delete(*[plan_etag_key(services.keys, d) for d in world.device_ids])
    finally:
        await redis.aclose()

    clock.advance(timedelta(seconds=services.settings.plan_outbox_redispatch_s))
    redis_planning.actors.relay_plan_changes.send()
    await redis_planning.join()

    new = (await plan_rows(services))[device].etag
    assert new != old
    assert await cached_etag(services, device) == new
    assert (await _heartbeat(edge_client, services, device, old))["plan_changed"] is True
    assert all(row.done_at is not None for row in await _changes(services))


async def test_reconciliation_repairs_a_change_nobody_announced_and_rebuilds_etags(
    services: Services, redis_planning: Planning
) -> None:
    world = await make_world(services, 3)
    await regenerate(services, world.device_ids)
    before = await plan_rows(services)
    # A change that bypassed every announcer (a restore, a manual fix, a lost outbox row).
    async with services.engine.begin() as conn:
        await conn.execute(
            sa.update(schedules).where(schedules.c.id == world.schedule_id).values(enabled=False)
        )
    await services.redis.delete(*[plan_etag_key(services.keys, d) for d in world.device_ids])
    assert await _changes(services) == []

    redis_planning.actors.reconcile_plans.send()
    await redis_planning.join()

    after = await plan_rows(services)
    for device in world.device_ids:
        assert after[device].etag != before[device].etag
        assert await cached_etag(services, device) == after[device].etag


async def test_reconciliation_walks_the_fleet_in_slices(
    services: Services, stub_planning: Planning, settings: Any
) -> None:
    world = await make_world(services, 2)
    settings.plan_reconcile_devices = 1  # one device per run (the setting's floor is for ops)
    try:
        seen: list[list[str]] = []
        for _ in range(4):
            stub_planning.actors.reconcile_plans.send()
            await stub_planning.join()
            batches = stub_planning.processed.of("regenerate_plans")
            seen.append([d for args in batches for d in args[0]])
    finally:
        settings.plan_reconcile_devices = 20_000
    first, second = sorted(str(d) for d in world.device_ids)
    assert seen[0] == [first]
    assert seen[1] == [first, second]
    assert seen[2] == [first, second]  # the end of the fleet: nothing, and the walk restarts
    assert seen[3] == [first, second, first]


async def test_batches_count_once_and_late_batches_of_an_old_dispatch_do_not_count(
    services: Services,
) -> None:
    now = services.clock.now()
    async with services.engine.begin() as conn:
        change = await outbox.record(conn, PlanChangeKind.GROUP, [uuid.uuid4()], now)
        first = await outbox.start_dispatch(conn, change, 2, now)
        assert first == 1
        assert await outbox.complete_batch(conn, change, 1, 0, now) is False
        assert await outbox.complete_batch(conn, change, 1, 0, now) is False  # redelivered
        second = await outbox.start_dispatch(conn, change, 2, now)  # the relay re-dispatched
        assert second == 2
        assert await outbox.complete_batch(conn, change, 1, 1, now) is False  # old dispatch
        assert await outbox.complete_batch(conn, change, 2, 0, now) is False
        assert await outbox.complete_batch(conn, change, 2, 1, now) is True
        assert await outbox.start_dispatch(conn, change, 2, now) is None  # done: stays done
        empty = await outbox.record(conn, PlanChangeKind.GROUP, [uuid.uuid4()], now)
        assert await outbox.start_dispatch(conn, empty, 0, now) == 1
        assert (await outbox.load(conn, empty)) is not None
        assert (await outbox.load(conn, empty)).done  # type: ignore[union-attr]


async def test_the_relay_claims_only_overdue_changes_once_per_wait(services: Services) -> None:
    now = services.clock.now()
    wait = timedelta(minutes=2)
    async with services.engine.begin() as conn:
        old = await outbox.record(conn, PlanChangeKind.STORE, [uuid.uuid4()], now - wait)
        await outbox.record(conn, PlanChangeKind.STORE, [uuid.uuid4()], now)
        assert await outbox.claim_overdue(conn, now, wait) == [old]
        assert await outbox.claim_overdue(conn, now, wait) == []  # claimed: wait again
        assert await outbox.claim_overdue(conn, now + wait, wait) == [old, old + 1]
        assert await outbox.pending_count(conn) == 2


def test_the_scheduler_runs_the_relay_and_the_reconciliation_as_configured(
    settings: Any,
) -> None:
    from workers import plans
    from workers.scheduler import jobs

    configured = settings.model_copy(
        update={"plan_outbox_relay_every_s": 7.0, "plan_reconcile_every_s": 90.0}
    )
    by_name = {job.name: job for job in jobs(configured)}
    assert by_name["plan-outbox-relay"].every_s == 7.0
    assert by_name["plan-outbox-relay"].actor is plans.relay_plan_changes
    assert by_name["plan-reconcile"].every_s == 90.0
    assert by_name["plan-reconcile"].actor is plans.reconcile_plans
