"""The periodic planning jobs meet an outage with one warning and no failure: the scheduler
runs them again at their next interval (the fault suite saw a traceback and Dramatiq's
"retries exceeded" per run while PostgreSQL was frozen)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware
from structlog.testing import capture_logs

from core.clock import FrozenClock
from core.config import Settings
from tests.plans.conftest import WorkerServices
from workers.plans import QUEUE, PlanningActors, declare_planning_actors


class Outcomes(Middleware):  # type: ignore[misc]
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.done: list[str] = []

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        (self.failures if exception is not None else self.done).append(message.actor_name)


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nowhere"


@pytest.fixture
def planning_without_database(
    settings: Settings, clock: FrozenClock
) -> Iterator[tuple[PlanningActors, StubBroker, Outcomes]]:
    unreachable = settings.model_copy(
        update={"database_url": _refused_url(), "db_connect_timeout_s": 1.0}
    )
    broker = StubBroker()
    broker.add_middleware(AsyncIO())
    outcomes = Outcomes()
    broker.add_middleware(outcomes)
    provider = WorkerServices(unreachable, clock)
    actors = declare_planning_actors(broker, services=provider)
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        yield actors, broker, outcomes
    finally:
        provider.close_on_worker_loop()
        worker.stop()
        broker.close()


async def test_relay_and_reconciliation_skip_a_run_when_postgres_is_away(
    planning_without_database: tuple[PlanningActors, StubBroker, Outcomes],
) -> None:
    actors, broker, outcomes = planning_without_database
    with capture_logs() as logs:
        actors.relay_plan_changes.send()
        actors.reconcile_plans.send()
        broker.join(QUEUE, timeout=30_000)
    assert outcomes.failures == []
    assert sorted(outcomes.done) == ["reconcile_plans", "relay_plan_changes"]
    skipped = [
        e for e in logs if e["event"] == "periodic planning job skipped: backend unavailable"
    ]
    assert sorted(e["job"] for e in skipped) == ["reconcile_plans", "relay_plan_changes"]
    assert all(e["log_level"] == "warning" for e in skipped)
