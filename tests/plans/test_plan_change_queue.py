"""The API's plan-change sink (`queueing.plan_changes`) reaches the planning actor that
`workers.plans` declares, addressed by queue and actor name only: the API process never
imports `workers`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.config import Settings
from core.plans.triggers import current_sink, hand_off, install_sink
from queueing.broker import LazyBroker
from queueing.plan_changes import (
    APPLY_PLAN_CHANGE,
    PLANNING_QUEUE,
    install_plan_change_sink,
    plan_change_sink,
)
from tests.plans.conftest import Planning
from workers import plans


def test_the_names_match_the_declared_actor() -> None:
    assert plans.QUEUE == PLANNING_QUEUE
    assert plans.apply_plan_change.actor_name == APPLY_PLAN_CHANGE
    assert plans.apply_plan_change.queue_name == PLANNING_QUEUE


async def test_a_handed_off_change_reaches_the_worker(
    redis_planning: Planning, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test's RedisBroker listens in this test's namespace (key prefix + "dramatiq"),
    # which is where the producer's broker for these settings sends.
    monkeypatch.delenv("SIGNAGE_BROKER", raising=False)
    broker = LazyBroker(settings)
    previous = install_sink(plan_change_sink(broker))
    try:
        await hand_off(987_654_321)  # no such change: the actor finds nothing to do
        for _ in range(300):
            if redis_planning.processed.of(APPLY_PLAN_CHANGE):
                break
            await asyncio.sleep(0.05)
    finally:
        install_sink(previous)
        broker.close()
    assert redis_planning.processed.of(APPLY_PLAN_CHANGE) == [(987_654_321,)]


def test_the_broker_is_built_on_the_first_send_not_before(settings: Settings) -> None:
    previous = current_sink()
    try:
        install_plan_change_sink(settings)
        sink: Any = current_sink()
        assert sink is not None and sink is not previous
    finally:
        install_sink(previous)
    broker = LazyBroker(settings)
    assert broker._broker is None
    broker.get()
    assert broker._broker is not None
    broker.close()
