"""Running the planning actors for real: a broker of the test's own, a real dramatiq.Worker,
and Services built on the worker's event loop (asyncpg connections belong to the loop that
opened them, so the test's own Services cannot be handed to an actor)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import pytest
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from core.plans import PlanComputer
from core.plans.triggers import install_sink
from workers.plans import QUEUE, PlanningActors, declare_planning_actors, plan_trigger


class WorkerServices:
    """The actors' Services, created lazily on the worker's loop, closed on it too."""

    def __init__(self, settings: Settings, clock: FrozenClock) -> None:
        self._settings = settings
        self._clock = clock
        self._services: Services | None = None

    async def __call__(self) -> Services:
        if self._services is None:
            self._services = build_services(self._settings, clock=self._clock)
        return self._services

    def close_on_worker_loop(self) -> None:
        services, self._services = self._services, None
        loop_thread = get_event_loop_thread()
        if services is not None and loop_thread is not None:
            loop_thread.run_coroutine(services.close())


@dataclass
class Processed(Middleware):  # type: ignore[misc]
    """Records every message a worker finished, as (actor name, args)."""

    messages: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        self.messages.append((message.actor_name, tuple(message.args)))

    def of(self, actor_name: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.messages if name == actor_name]


@dataclass
class Planning:
    broker: Any
    worker: dramatiq.Worker
    actors: PlanningActors
    computer: PlanComputer
    processed: Processed

    async def join(self) -> None:
        """Until every planning message (including fanned-out ones) has been processed."""
        await asyncio.to_thread(self.broker.join, QUEUE, timeout=60_000)
        await asyncio.to_thread(self.worker.join)


def _start(broker: Any, settings: Settings, clock: FrozenClock) -> Iterator[Planning]:
    processed = Processed()
    broker.add_middleware(processed)
    computer = PlanComputer()
    provider = WorkerServices(settings, clock)
    actors = declare_planning_actors(broker, services=provider, computer=computer)
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    try:
        yield Planning(broker, worker, actors, computer, processed)
    finally:
        provider.close_on_worker_loop()
        worker.stop()
        broker.close()


@pytest.fixture
def stub_planning(settings: Settings, clock: FrozenClock) -> Iterator[Planning]:
    broker = StubBroker()
    broker.add_middleware(AsyncIO())
    yield from _start(broker, settings, clock)


@pytest.fixture
def redis_planning(settings: Settings, clock: FrozenClock, redis_prefix: str) -> Iterator[Planning]:
    """A RedisBroker in a namespace of this test's own (cleaned with its key prefix)."""
    assert settings.redis_url
    broker = RedisBroker(url=settings.redis_url, namespace=f"{redis_prefix}dramatiq")
    broker.add_middleware(AsyncIO())
    yield from _start(broker, settings, clock)


@pytest.fixture
def trigger_to() -> Iterator[Any]:
    """`trigger_to(actors)`: notify_plan_inputs_changed enqueues onto these actors."""
    previous: list[Any] = []

    def install(actors: PlanningActors) -> None:
        previous.append(install_sink(plan_trigger(actors.apply_plan_change)))

    yield install
    if previous:
        install_sink(previous[0])
