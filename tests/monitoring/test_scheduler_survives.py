"""The scheduler outlives Redis outages and, with several running, only one enqueues.

The schedulers run in threads against a real Redis and enqueue on a real RedisBroker; the
test reads the Dramatiq queue straight from Redis. Time is a FrozenClock that the test
moves, ticks are tiny, and every wait is for an outcome under one generous timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from redis.backoff import NoBackoff
from redis.retry import Retry
from structlog.testing import capture_logs

from core.clock import FrozenClock
from tests.harness import ServiceURLs
from tests.outages import outage_proxy
from workers.actors import heartbeat_self_check
from workers.monitoring import QUEUE, SWEEP_EVERY_S, sweep_devices
from workers.scheduler import Scheduler, jobs, redis_client

SWEEP = timedelta(seconds=SWEEP_EVERY_S)


@pytest.fixture
def make_scheduler(redis_prefix: str, clock: FrozenClock) -> Iterator[Callable[..., Scheduler]]:
    """Schedulers that enqueue on a RedisBroker at `redis_url`, closed after the test."""
    opened: list[tuple[RedisBroker, redis.Redis]] = []

    def make(redis_url: str, broker_class: type[RedisBroker] = RedisBroker) -> Scheduler:
        broker = broker_class(
            url=redis_url,
            namespace=f"{redis_prefix}dramatiq",
            retry=Retry(NoBackoff(), 0),
            socket_timeout=5,
        )
        client = redis_client(redis_url)
        opened.append((broker, client))
        return Scheduler(
            broker=broker,
            redis_client=client,
            key_prefix=redis_prefix,
            schedule=jobs(),
            clock=clock,
            tick_s=0.005,
            retry_max_s=0.05,
            leader_ttl_s=60,  # a stopped leader hands over by releasing, not by expiring
        )

    yield make
    for broker, client in opened:
        broker.close()
        client.close()


class Running:
    """A scheduler's loop in a thread, until `stop()`."""

    def __init__(self, sched: Scheduler) -> None:
        self._stop = threading.Event()
        self.thread = asyncio.ensure_future(asyncio.to_thread(sched.run, self._stop))

    async def stop(self) -> None:
        self._stop.set()
        await self.thread


@asynccontextmanager
async def running(*schedulers: Scheduler) -> AsyncIterator[list[Running]]:
    loops = [Running(sched) for sched in schedulers]
    try:
        yield loops
    finally:
        for loop in loops:
            await loop.stop()


async def until(predicate: Callable[[], bool | Awaitable[bool]]) -> None:
    """Poll state that other threads (the schedulers) or Redis own."""
    while True:
        outcome = predicate()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return
        await asyncio.sleep(0.01)


async def ticked(*schedulers: Scheduler, times: int = 3) -> None:
    """Wait until each scheduler has ticked `times` more times."""
    targets = [(s, s.ticks + times) for s in schedulers]
    await until(lambda: all(s.ticks >= target for s, target in targets))


@pytest.fixture
async def direct_redis(service_urls: ServiceURLs) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(service_urls.redis)
    yield client
    await client.aclose()


async def sweeps_are(client: aioredis.Redis, prefix: str, count: int) -> bool:
    return await sweeps_enqueued(client, prefix) == count


async def sweeps_enqueued(client: aioredis.Redis, prefix: str) -> int:
    stored = await client.hvals(f"{prefix}dramatiq:{QUEUE}.msgs")
    return sum(
        Message.decode(data if isinstance(data, bytes) else data.encode()).actor_name
        == sweep_devices.actor_name
        for data in stored
    )


async def test_the_scheduler_keeps_running_through_a_redis_outage_and_enqueues_after_it(
    service_urls: ServiceURLs,
    redis_prefix: str,
    clock: FrozenClock,
    direct_redis: aioredis.Redis,
    make_scheduler: Callable[..., Scheduler],
) -> None:
    async with outage_proxy(service_urls.redis) as proxy:
        with capture_logs() as logs:
            sched = make_scheduler(proxy.url)
            async with asyncio.timeout(60), running(sched) as [loop]:
                # Leading is set before the tick's first enqueue: wait for the enqueue itself.
                await until(lambda: sweeps_are(direct_redis, redis_prefix, 1))
                await ticked(sched)
                assert await sweeps_enqueued(direct_redis, redis_prefix) == 1  # and only one

                await proxy.cut()
                clock.advance(SWEEP)  # the next sweep falls due during the outage
                target = sched.ticks + 10
                await until(lambda: sched.ticks >= target or loop.thread.done())
                assert not loop.thread.done()
                assert await sweeps_enqueued(direct_redis, redis_prefix) == 1

                await proxy.restore()
                await until(lambda: sweeps_are(direct_redis, redis_prefix, 2))
                assert not loop.thread.done()

    events = [entry["event"] for entry in logs if entry["log_level"] != "debug"]
    assert events.count("scheduler backend unavailable, retrying") == 1
    assert events.count("scheduler backend available again") == 1
    assert not [entry for entry in logs if entry["log_level"] in ("error", "critical")]


async def test_of_two_schedulers_only_the_leader_enqueues(
    service_urls: ServiceURLs,
    redis_prefix: str,
    clock: FrozenClock,
    direct_redis: aioredis.Redis,
    make_scheduler: Callable[..., Scheduler],
) -> None:
    first = make_scheduler(service_urls.redis)
    second = make_scheduler(service_urls.redis)
    async with asyncio.timeout(60), running(first, second) as loops:
        await until(lambda: first.leading or second.leading)
        await ticked(first, second)
        assert [first.leading, second.leading].count(True) == 1
        assert await sweeps_enqueued(direct_redis, redis_prefix) == 1

        clock.advance(SWEEP)
        await ticked(first, second)
        assert [first.leading, second.leading].count(True) == 1
        assert await sweeps_enqueued(direct_redis, redis_prefix) == 2

        # The leader stops and releases the lock (its TTL is a minute); the other takes over
        # and carries on the schedule from where the leader left it.
        leader, other = (0, 1) if first.leading else (1, 0)
        await loops[leader].stop()
        successor = (first, second)[other]
        await until(lambda: successor.leading)
        await ticked(successor)
        assert await sweeps_enqueued(direct_redis, redis_prefix) == 2

        clock.advance(SWEEP)
        await ticked(successor)
        assert await sweeps_enqueued(direct_redis, redis_prefix) == 3


class BrokenSelfCheckBroker(RedisBroker):
    """A bug on one job's enqueue path (not an outage): the self-check cannot be enqueued."""

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        if message.actor_name == heartbeat_self_check.actor_name:
            raise RuntimeError("a bug in this job's enqueue")
        return super().enqueue(message, delay=delay)


async def test_a_job_that_fails_with_a_bug_is_logged_and_the_other_jobs_go_on(
    service_urls: ServiceURLs,
    redis_prefix: str,
    clock: FrozenClock,
    direct_redis: aioredis.Redis,
    make_scheduler: Callable[..., Scheduler],
) -> None:
    sched = make_scheduler(service_urls.redis, BrokenSelfCheckBroker)
    with capture_logs() as logs:
        async with asyncio.timeout(60), running(sched) as [loop]:
            await until(lambda: sweeps_are(direct_redis, redis_prefix, 1))
            await ticked(sched, times=10)

            def failures() -> list[MutableMapping[str, Any]]:
                return [e for e in logs if e["event"] == "scheduler job failed to enqueue"]

            # Once per interval of the broken job, with its traceback; not once per tick.
            assert [(e["job"], e["exc_info"]) for e in failures()] == [("worker-self-check", True)]
            clock.advance(timedelta(seconds=60))
            await until(lambda: len(failures()) == 2)
            await until(lambda: sweeps_are(direct_redis, redis_prefix, 2))
            await ticked(sched, times=10)
            assert len(failures()) == 2
            assert not loop.thread.done()
