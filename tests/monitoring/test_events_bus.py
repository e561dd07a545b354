"""The Redis pub/sub bus: cross-process delivery, per-channel fan-out over one connection,
and an honest end of stream for subscribers that fall behind."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from core.bootstrap import Services
from core.events_bus import DEVICE_STATUS, INCIDENTS, EventBus, EventsLost, _hubs
from core.redis_client import PUBLISH_CHUNK
from tests.harness import ServiceURLs


async def test_events_from_another_process_reach_local_subscribers(
    services: Services, service_urls: ServiceURLs
) -> None:
    other_process = aioredis.Redis.from_url(service_urls.redis)  # its own client and pool
    publisher = EventBus(other_process, services.keys)
    bus = EventBus(services.redis, services.keys)
    try:
        async with bus.subscribe(DEVICE_STATUS) as status, bus.subscribe(INCIDENTS) as incidents:
            assert bus.local_subscribers(DEVICE_STATUS) == 1
            hub = _hubs[services.redis]
            assert hub.task is not None  # one reader and one pub/sub connection for both

            await other_process.publish(services.keys.channel(INCIDENTS), b"not json")
            await publisher.publish(INCIDENTS, {"event": "opened", "n": 1})
            await publisher.publish(DEVICE_STATUS, {"device_id": "d1", "status": "online"})

            got_incident = await asyncio.wait_for(anext(incidents), 5)
            got_status = await asyncio.wait_for(anext(status), 5)
            assert (got_incident.channel, got_incident.payload) == (
                INCIDENTS,
                {"event": "opened", "n": 1},
            )
            assert got_status.payload == {"device_id": "d1", "status": "online"}
            assert status.queue.empty() and incidents.queue.empty()
        assert hub.task is None and hub.pubsub is None  # closed with the last subscriber
        assert bus.local_subscribers(DEVICE_STATUS) == 0
    finally:
        await other_process.aclose()


async def test_other_deployments_events_are_not_delivered(services: Services) -> None:
    bus = EventBus(services.redis, services.keys)
    async with bus.subscribe(INCIDENTS) as events:
        await services.redis.publish("someone-else:events:incidents", b'{"x": 1}')
        await bus.publish(INCIDENTS, {"x": 2})
        event = await asyncio.wait_for(anext(events), 5)
    assert event.payload == {"x": 2}


async def test_a_subscriber_that_falls_behind_gets_events_lost(services: Services) -> None:
    bus = EventBus(services.redis, services.keys)
    async with bus.subscribe(INCIDENTS, queue_size=2) as slow, bus.subscribe(INCIDENTS) as fast:
        published = await bus.publish_many(INCIDENTS, ({"n": n} for n in range(5)))
        assert published == 5
        received = [(await asyncio.wait_for(anext(fast), 5)).payload["n"] for _ in range(5)]
        assert received == [0, 1, 2, 3, 4]
        with pytest.raises(EventsLost):
            await anext(slow)


async def test_a_large_batch_arrives_as_single_messages_in_order(services: Services) -> None:
    """`publish_many` sends a sweep's thousands of events in a few script calls; every event
    still reaches subscribers as its own message, in order, across chunk boundaries, and
    also after Redis forgot the script (a restart or SCRIPT FLUSH)."""
    bus = EventBus(services.redis, services.keys)
    total = PUBLISH_CHUNK * 2 + 37
    async with bus.subscribe(INCIDENTS, queue_size=total * 2) as events:
        await services.redis.script_flush()
        assert await bus.publish_many(INCIDENTS, ({"n": n} for n in range(total))) == total
        assert await bus.publish_many(INCIDENTS, []) == 0
        received = [(await asyncio.wait_for(anext(events), 5)).payload for _ in range(total)]
        await asyncio.sleep(0.05)
        assert events.queue.empty()
    assert received == [{"n": n} for n in range(total)]
