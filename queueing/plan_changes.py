"""Handing committed plan changes to the planning workers without importing them.

`core.plans.triggers` calls the installed sink with an outbox id after COMMIT; the sink sends
`apply_plan_change(change_id)` to the `planning` queue by name. The names are the contract
with `workers.plans`, which declares that actor on that queue (a test there checks they
agree).
"""

from __future__ import annotations

import asyncio

import dramatiq

from core.config import Settings
from core.plans.triggers import PlanChangeSink, install_sink
from queueing.broker import LazyBroker

PLANNING_QUEUE = "planning"
APPLY_PLAN_CHANGE = "apply_plan_change"


def apply_plan_change_message(change_id: int) -> dramatiq.Message:  # type: ignore[type-arg]
    return dramatiq.Message(
        queue_name=PLANNING_QUEUE,
        actor_name=APPLY_PLAN_CHANGE,
        args=(change_id,),
        kwargs={},
        options={},
    )


def send_plan_change(broker: dramatiq.Broker, change_id: int) -> None:
    """Blocking: enqueue `apply_plan_change(change_id)` on `broker`."""
    broker.declare_queue(PLANNING_QUEUE)  # idempotent; a StubBroker refuses unknown queues
    broker.enqueue(apply_plan_change_message(change_id))


def plan_change_sink(broker: LazyBroker) -> PlanChangeSink:
    """A `core.plans.triggers` sink sending on `broker` (built on the first change)."""

    async def enqueue(change_id: int) -> None:
        # Sending is blocking I/O (and may build the broker): keep it off the event loop.
        await asyncio.to_thread(lambda: send_plan_change(broker.get(), change_id))

    return enqueue


_brokers: dict[tuple[str | None, str, float], LazyBroker] = {}


def install_plan_change_sink(settings: Settings) -> None:
    """Make this process hand plan changes to the planning queue (the API calls this when its
    app is created). One lazy broker per Redis and namespace, however many apps are created."""
    key = (settings.redis_url, settings.redis_key_prefix, settings.redis_timeout_s)
    broker = _brokers.get(key)
    if broker is None:
        broker = _brokers[key] = LazyBroker(settings)
    install_sink(plan_change_sink(broker))
