"""The workers' figures (`workers.metrics.ActorMetrics`) on a real Dramatiq worker over a
StubBroker: messages by outcome (succeeded, retried, failed, as decided by the Retries
middleware), their durations, and each actor's last success.

Dramatiq runs `after_*` hooks in REVERSE middleware order (`Broker.emit_after`), so a
middleware appended after Retries would see a failure before Retries has decided whether it is
retried or failed. `workers.broker.redis_broker` therefore puts ActorMetrics first, and so do
the rigs here; the first test checks the real broker's order.

Every actor here has a name of its own, so the global registry's values are this test's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Retries
from prometheus_client import REGISTRY

import workers.metrics
from core.config import Settings
from workers.metrics import ActorMetrics

JOIN_TIMEOUT_MS = 20_000


def value(metric: str, /, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


@dataclass
class Rig:
    broker: StubBroker
    metrics: ActorMetrics
    queue: str

    def actor(self, fn: Callable[..., Any], **options: Any) -> Any:
        name = f"{fn.__name__}_{uuid.uuid4().hex[:10]}"
        declare = dramatiq.actor(
            broker=self.broker, actor_name=name, queue_name=self.queue, **options
        )
        return declare(fn)

    def join(self) -> None:
        self.broker.join(self.queue, timeout=JOIN_TIMEOUT_MS, fail_fast=False)


FIRST = "first"  # as workers.broker.redis_broker adds it: its after_* hooks run last


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    broker = StubBroker()
    metrics = ActorMetrics()
    assert request.param == FIRST
    broker.add_middleware(metrics, before=AgeLimit)
    queue = f"metrics_{uuid.uuid4().hex[:8]}"
    broker.declare_queue(queue)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        yield Rig(broker, metrics, queue)
    finally:
        worker.stop()
        broker.close()


def test_the_worker_broker_runs_actor_metrics_after_retries_decided() -> None:
    """The broker the worker processes run (workers.broker.redis_broker): ActorMetrics'
    after_process_message must run after Retries' (after_* hooks run in reverse order)."""
    from workers.broker import redis_broker

    settings = Settings.model_validate(
        {"SIGNAGE_ENV": "test", "REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    broker = redis_broker(settings)
    try:
        after_order = [type(middleware) for middleware in reversed(broker.middleware)]
        assert after_order.index(ActorMetrics) > after_order.index(Retries)
    finally:
        broker.close()


@pytest.mark.parametrize("rig", [FIRST], indirect=True)
def test_a_succeeding_actor_counts_successes_durations_and_last_success(rig: Rig) -> None:
    def quick(n: int) -> int:
        time.sleep(0.02)
        return n

    actor = rig.actor(quick)
    name = actor.actor_name
    started = time.time()
    for n in range(3):
        actor.send(n)
    rig.join()
    finished = time.time()

    assert value("signage_actor_messages_total", actor=name, outcome="succeeded") == 3
    assert value("signage_actor_messages_total", actor=name, outcome="retried") == 0
    assert value("signage_actor_messages_total", actor=name, outcome="failed") == 0
    assert value("signage_actor_duration_seconds_count", actor=name) == 3
    assert value("signage_actor_duration_seconds_sum", actor=name) >= 3 * 0.02
    assert value("signage_actor_duration_seconds_bucket", actor=name, le="0.005") == 0
    last = REGISTRY.get_sample_value(
        "signage_actor_last_success_timestamp_seconds", {"actor": name}
    )
    assert last is not None and started <= last <= finished
    assert rig.metrics._started == {}  # nothing left behind per message


@pytest.mark.parametrize("rig", [FIRST], indirect=True)
def test_a_failing_actor_is_retried_then_failed(rig: Rig) -> None:
    attempts: list[int] = []

    def broken() -> None:
        attempts.append(1)
        raise RuntimeError("this actor always fails")

    actor = rig.actor(broken, max_retries=1, min_backoff=10, max_backoff=50)
    name = actor.actor_name
    actor.send()
    rig.join()

    assert len(attempts) == 2
    assert value("signage_actor_messages_total", actor=name, outcome="retried") == 1
    assert value("signage_actor_messages_total", actor=name, outcome="failed") == 1
    assert value("signage_actor_messages_total", actor=name, outcome="succeeded") == 0
    assert value("signage_actor_duration_seconds_count", actor=name) == 2
    assert (
        REGISTRY.get_sample_value("signage_actor_last_success_timestamp_seconds", {"actor": name})
        is None
    )
    assert len(rig.broker.dead_letters_by_queue[rig.queue]) == 1


@pytest.mark.parametrize("rig", [FIRST], indirect=True)
def test_a_failure_then_a_success_counts_one_of_each(rig: Rig) -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    actor = rig.actor(flaky, max_retries=3, min_backoff=10, max_backoff=50)
    name = actor.actor_name
    started = time.time()
    actor.send()
    rig.join()

    assert len(attempts) == 2
    assert value("signage_actor_messages_total", actor=name, outcome="retried") == 1
    assert value("signage_actor_messages_total", actor=name, outcome="succeeded") == 1
    assert value("signage_actor_messages_total", actor=name, outcome="failed") == 0
    assert value("signage_actor_duration_seconds_count", actor=name) == 2
    last = value("signage_actor_last_success_timestamp_seconds", actor=name)
    assert started <= last <= time.time()


@pytest.mark.parametrize("rig", [FIRST], indirect=True)
def test_a_failure_without_retries_is_failed_at_once(rig: Rig) -> None:
    def once() -> None:
        raise ValueError("no second chance")

    actor = rig.actor(once, max_retries=0)
    name = actor.actor_name
    actor.send()
    actor.send()
    rig.join()
    assert value("signage_actor_messages_total", actor=name, outcome="failed") == 2
    assert value("signage_actor_messages_total", actor=name, outcome="retried") == 0


@pytest.mark.parametrize("rig", [FIRST], indirect=True)
def test_the_last_success_moves_forward(rig: Rig) -> None:
    actor = rig.actor(lambda: None)
    name = actor.actor_name
    actor.send()
    rig.join()
    first = value("signage_actor_last_success_timestamp_seconds", actor=name)
    time.sleep(0.05)
    actor.send()
    rig.join()
    second = value("signage_actor_last_success_timestamp_seconds", actor=name)
    assert 0 < first < second


def test_process_boot_and_shutdown_without_a_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each worker process starts its runtime sampler at boot (here with its port off, so
    no listener) and stops it at shutdown; `watch` then finds it."""
    settings = Settings.model_validate({"SIGNAGE_ENV": "test", "METRICS_WORKER_PORT": 0})
    monkeypatch.setattr(workers.metrics, "get_settings", lambda: settings)
    monkeypatch.setattr(workers.metrics, "_process", None)
    broker = StubBroker()
    metrics = ActorMetrics()
    try:
        metrics.after_process_boot(broker)
        process = workers.metrics._process
        assert process is not None
        assert process.listener is None
        assert process.sampler is not None and process.sampler.process == "worker"
        assert value("signage_build_info", process="worker", version=_release()) == 1
        metrics.before_worker_shutdown(broker, None)
        assert process.sampler._stop.is_set()
    finally:
        process = workers.metrics._process
        if process is not None and process.sampler is not None:
            process.sampler.stop()
        broker.close()


def test_process_boot_with_metrics_disabled_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate({"SIGNAGE_ENV": "test", "METRICS_ENABLED": "false"})
    monkeypatch.setattr(workers.metrics, "get_settings", lambda: settings)
    monkeypatch.setattr(workers.metrics, "_process", None)
    broker = StubBroker()
    metrics = ActorMetrics()
    metrics.after_process_boot(broker)
    process = workers.metrics._process
    assert process is not None
    assert process.listener is None and process.sampler is None
    metrics.before_worker_shutdown(broker, None)
    broker.close()


def _release() -> str:
    from telemetry.process import release

    return release()
