"""The sweep actor through real Dramatiq workers: on the StubBroker and on a RedisBroker.

Async actors run on the AsyncIO middleware's own event-loop thread, so the worker gets its
own `Services` (built here, first used and closed on that loop); the test checks the outcome
through the test's `services`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from tests.conftest import T0
from tests.harness import ServiceURLs
from tests.monitoring.factories import device_row, incident_rows, make_device, make_store
from workers import runtime
from workers.monitoring import QUEUE, sweep_devices


@contextmanager
def running_worker(broker: dramatiq.Broker, worker_services: Services) -> Iterator[dramatiq.Worker]:
    runtime.override_services(worker_services)
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        yield worker
    finally:
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
        loop_thread.run_coroutine(worker_services.close())
        worker.stop()
        runtime.override_services(None)


async def stale_device_in_open_store(services: Services) -> Any:
    store = await make_store(services)
    return await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))


async def test_sweep_actor_on_the_stub_broker(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    device = await stale_device_in_open_store(services)
    broker = sweep_devices.broker
    with running_worker(broker, build_services(settings, clock=clock)) as worker:
        sweep_devices.send()
        sweep_devices.send()  # a duplicate enqueue is harmless
        await asyncio.to_thread(broker.join, QUEUE, fail_fast=True, timeout=30_000)
        await asyncio.to_thread(worker.join)

    assert (await device_row(services, device)).status == "offline"
    assert [row.type for row in await incident_rows(services)] == ["OFFLINE_DURING_HOURS"]


@pytest.fixture
def redis_broker(service_urls: ServiceURLs, redis_prefix: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=service_urls.redis, namespace=f"{redis_prefix}dramatiq")
    broker.add_middleware(AsyncIO())
    try:
        yield broker
    finally:
        broker.flush_all()
        broker.close()


async def test_sweep_actor_on_a_real_redis_broker(
    services: Services, settings: Settings, clock: FrozenClock, redis_broker: RedisBroker
) -> None:
    device = await stale_device_in_open_store(services)
    actor = dramatiq.actor(
        sweep_devices.fn,
        broker=redis_broker,
        actor_name=sweep_devices.actor_name,
        queue_name=sweep_devices.queue_name,
        **sweep_devices.options,
    )
    assert redis_broker.get_actor(sweep_devices.actor_name) is actor

    with running_worker(redis_broker, build_services(settings, clock=clock)) as worker:
        actor.send()
        await asyncio.to_thread(redis_broker.join, QUEUE, timeout=30_000)
        await asyncio.to_thread(worker.join)

    assert (await device_row(services, device)).status == "offline"
    assert [row.type for row in await incident_rows(services)] == ["OFFLINE_DURING_HOURS"]
