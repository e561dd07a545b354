"""Heartbeat effects: columns, status transitions, pub/sub events, plan ETag, cost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import event, select, text, update

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import device_status_transitions, devices
from core.devices.heartbeat import (
    plan_etag_key,
    release_telemetry_connection,
    telemetry_connection,
)
from core.devices.status_events import DeviceStatusEvent, status_channel
from tests.conftest import T0
from tests.device_edge.conftest import HEARTBEAT, Paired, Placement, create_placement, pair

PATH = "/v1/device/heartbeat"
CONTENT_ID = str(uuid.uuid4())
FULL: dict[str, Any] = {
    "now_playing": {
        "content_id": CONTENT_ID,
        "content_version": "v3",
        "started_at": "2026-03-02T09:59:30Z",
        "position_ms": 30000,
    },
    "disk_used_bytes": 123_456_789,
    "plan_etag": "etag-1",
    "last_error": "download failed: 503",
    "counters": {"uptime_s": 3600, "download_failures": 2, "plays": 40},
}


@pytest.fixture
async def subscriber(services: Services) -> AsyncIterator[Any]:
    """A real Redis subscriber on the status channel, as the API processes run one."""
    client = aioredis.Redis.from_url(services.settings.redis_url or "")
    pubsub = client.pubsub()
    await pubsub.subscribe(status_channel(services.keys))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    yield pubsub
    await pubsub.aclose()
    await client.aclose()


async def next_event(pubsub: Any, wait_s: float = 2.0) -> DeviceStatusEvent | None:
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_s)
    return None if message is None else DeviceStatusEvent.from_json(message["data"])


async def device_row(services: Services, device_id: uuid.UUID) -> Any:
    async with services.engine.connect() as conn:
        return (await conn.execute(select(devices).where(devices.c.id == device_id))).one()


async def transitions(services: Services, device_id: uuid.UUID) -> list[tuple[Any, ...]]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            select(
                device_status_transitions.c.from_status,
                device_status_transitions.c.to_status,
                device_status_transitions.c.reason,
                device_status_transitions.c.at,
            )
            .where(device_status_transitions.c.device_id == device_id)
            .order_by(device_status_transitions.c.id)
        )
        return [tuple(row) for row in rows]


async def test_first_heartbeat_stores_telemetry_and_goes_online(
    edge_client: httpx.AsyncClient,
    services: Services,
    paired: Paired,
    placement: Placement,
    subscriber: Any,
) -> None:
    response = await edge_client.post(PATH, json=FULL, headers=paired.auth)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "server_time": "2026-03-02T10:00:00Z",
        "plan_etag": None,
        "plan_changed": False,
        "heartbeat_interval_s": 60,
    }
    row = await device_row(services, paired.device_id)
    assert row.status == "online" and row.last_seen_at == T0 and row.status_changed_at == T0
    assert row.disk_used_bytes == 123_456_789
    assert row.now_playing_json == {
        "content_id": CONTENT_ID,
        "content_version": "v3",
        "started_at": "2026-03-02T09:59:30Z",
        "position_ms": 30000,
    }
    assert row.last_error == "download failed: 503"
    assert row.counters_json == {"uptime_s": 3600, "download_failures": 2, "plays": 40}
    assert row.reported_plan_etag == "etag-1"
    assert await transitions(services, paired.device_id) == [("pending", "online", "heartbeat", T0)]

    published = await next_event(subscriber)
    assert published == DeviceStatusEvent(
        device_id=paired.device_id,
        store_id=placement.store_id,
        group_id=placement.group_id,
        status="online",
        previous_status="pending",
        last_seen_at=T0,
    )


async def test_later_heartbeats_write_only_what_changed(
    edge_client: httpx.AsyncClient,
    services: Services,
    paired: Paired,
    clock: FrozenClock,
    subscriber: Any,
) -> None:
    await edge_client.post(PATH, json=FULL, headers=paired.auth)
    assert await next_event(subscriber) is not None
    before = await device_row(services, paired.device_id)

    clock.advance(timedelta(seconds=60))
    quieter = {**FULL, "last_error": None, "counters": {"uptime_s": 3660}}
    assert (await edge_client.post(PATH, json=quieter, headers=paired.auth)).status_code == 200
    after = await device_row(services, paired.device_id)
    assert after.last_seen_at == T0 + timedelta(seconds=60)
    assert after.last_error is None
    assert after.counters_json == {"uptime_s": 3660}
    # Status did not change: no transition row, no event, no updated_at bump.
    assert after.status_changed_at == before.status_changed_at == T0
    assert after.updated_at == before.updated_at
    assert len(await transitions(services, paired.device_id)) == 1
    assert await next_event(subscriber, wait_s=0.3) is None


async def test_back_online_after_offline(
    edge_client: httpx.AsyncClient,
    services: Services,
    paired: Paired,
    clock: FrozenClock,
    subscriber: Any,
) -> None:
    await edge_client.post(PATH, json=HEARTBEAT, headers=paired.auth)
    await next_event(subscriber)
    async with services.uow() as uow:  # what the offline sweep does
        await uow.conn.execute(
            update(devices).where(devices.c.id == paired.device_id).values(status="offline")
        )
        await uow.commit()
    clock.advance(timedelta(minutes=5))
    await edge_client.post(PATH, json=HEARTBEAT, headers=paired.auth)
    published = await next_event(subscriber)
    assert published is not None
    assert (published.previous_status, published.status) == ("offline", "online")
    assert (await transitions(services, paired.device_id))[-1] == (
        "offline",
        "online",
        "heartbeat",
        T0 + timedelta(minutes=5),
    )


async def test_device_info_and_player_version_only_when_sent(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired, clock: FrozenClock
) -> None:
    info = {
        "os": "tizen",
        "player_version": "3.0.0",
        "screen": {"width_px": 3840, "height_px": 2160},
    }
    await edge_client.post(PATH, json={**HEARTBEAT, "device_info": info}, headers=paired.auth)
    row = await device_row(services, paired.device_id)
    assert row.device_info_json == info and row.player_version == "3.0.0"
    clock.advance(timedelta(seconds=60))
    await edge_client.post(PATH, json=HEARTBEAT, headers=paired.auth)
    after = await device_row(services, paired.device_id)
    assert after.device_info_json == info and after.player_version == "3.0.0"
    assert after.updated_at == row.updated_at


async def test_plan_etag_comes_from_redis(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    await services.redis.set(plan_etag_key(services.keys, paired.device_id), "etag-2")
    current = await edge_client.post(
        PATH, json={**HEARTBEAT, "plan_etag": "etag-2"}, headers=paired.auth
    )
    assert (current.json()["plan_etag"], current.json()["plan_changed"]) == ("etag-2", False)
    stale = await edge_client.post(
        PATH, json={**HEARTBEAT, "plan_etag": "etag-1"}, headers=paired.auth
    )
    assert (stale.json()["plan_etag"], stale.json()["plan_changed"]) == ("etag-2", True)
    none_yet = await edge_client.post(PATH, json=HEARTBEAT, headers=paired.auth)
    assert none_yet.json()["plan_changed"] is True


@pytest.mark.parametrize(
    ("policy", "interval"),
    [
        ({"heartbeat_interval_s": 30}, 30),
        ({"heartbeat_interval_s": "30"}, 60),
        ({}, 60),
        ({"heartbeat_interval_s": 1}, 10),
    ],
)
async def test_interval_comes_from_the_group_policy(
    policy: dict[str, Any],
    interval: int,
    edge_client: httpx.AsyncClient,
    services: Services,
) -> None:
    placement = await create_placement(services, policy=policy, name="Policy group")
    device = await pair(edge_client, services, placement)
    response = await edge_client.post(PATH, json=HEARTBEAT, headers=device.auth)
    assert response.json()["heartbeat_interval_s"] == interval


async def test_a_heartbeat_is_one_statement(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    """Count what reaches PostgreSQL: SQLAlchemy statements, and queries sent straight
    through the asyncpg driver (the heartbeat statement is), minus the pool's pings."""
    await edge_client.post(PATH, json=FULL, headers=paired.auth)
    await asyncio.sleep(0.1)  # the idle writer gives its connection back to the pool
    through_sqlalchemy: list[str] = []
    through_driver: list[str] = []
    watched: list[Any] = []

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        through_sqlalchemy.append(statement)

    def log(query: Any) -> None:
        if "devices" in query.query:  # not the pool's liveness pings
            through_driver.append(query.query)

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(log)
        watched.append(driver)

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "checkout", on_checkout)
    try:
        response = await edge_client.post(PATH, json=FULL, headers=paired.auth)
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "checkout", on_checkout)
        for driver in watched:
            driver.remove_query_logger(log)
    assert response.status_code == 200
    assert watched, "the heartbeat did not borrow a connection"
    assert through_sqlalchemy == []
    assert len(through_driver) == 1, through_driver
    assert through_driver[0].count("UPDATE devices") == 1


async def test_the_heartbeat_connection_commits_durably(services: Services) -> None:
    """An acknowledged heartbeat must survive a PostgreSQL crash: no asynchronous commit."""
    conn = await telemetry_connection(services)
    try:
        assert (await conn.execute(text("SHOW synchronous_commit"))).scalar_one() == "on"
    finally:
        await release_telemetry_connection(conn)


async def test_pooled_connections_get_synchronous_commit_back(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    """Heartbeats commit durably, and no connection in the pool has that turned off."""
    pool_size = services.engine.sync_engine.pool.size()
    await asyncio.gather(
        *(edge_client.post(PATH, json=FULL, headers=paired.auth) for _ in range(4))
    )
    await asyncio.sleep(0.1)  # the idle writer gives its connections back
    connections = [await services.engine.connect() for _ in range(pool_size)]
    try:
        settings = [
            (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
            for conn in connections
        ]
    finally:
        for conn in connections:
            await conn.close()
    assert set(settings) == {"on"}
