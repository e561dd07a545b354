"""Planning actors: regenerate plans when their inputs change, and roll horizons forward.

- `plan_inputs_changed(kind, ids)`: finds the affected devices (one query) and fans them out
  as `regenerate_plans` messages of at most FANOUT_CHUNK devices, so a change reaching
  100,000 devices becomes 100 small, independently retried tasks spread over the workers.
- `regenerate_plans(device_ids)`: recomputes and stores those plans (core.plans.regenerate).
- `roll_plan_horizons()`: periodic; fans out the devices whose plan was made for an earlier
  horizon boundary.

All are idempotent (delivery is at-least-once): regenerating an unchanged plan writes
nothing, and the fan-outs only enqueue idempotent work. They take ids, never objects.

The actors are declared by `declare_planning_actors(broker)`: the module declares them once
on the process broker, and tests declare them on a broker of their own (a RedisBroker with a
unique namespace) with their own Services, without touching the global broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog

import workers.broker  # the broker must be set before actors are declared
from core.bootstrap import Services
from core.plans import (
    PlanComputer,
    UnknownChangeKind,
    affected_devices,
    devices_needing_roll,
    regenerate,
)
from core.plans.affected import parse_kind
from core.plans.triggers import install_sink
from core.scheduling import horizon_for
from workers.runtime import services as runtime_services

log = structlog.get_logger(__name__)

QUEUE = "planning"
FANOUT_CHUNK = 1000
# How often the scheduler ticks the roll job (plans of an old boundary still cover 72 h for
# the horizon's 6 h grace), and at most one roll enqueue per boundary per ROLL_DEBOUNCE_S.
ROLL_EVERY_S = 10 * 60
ROLL_DEBOUNCE_S = 15 * 60

ServicesProvider = Callable[[], Awaitable[Services]]


@dataclass(frozen=True)
class PlanningActors:
    regenerate_plans: Any
    plan_inputs_changed: Any
    roll_plan_horizons: Any


def _uuids(values: Sequence[str]) -> list[uuid.UUID]:
    parsed: list[uuid.UUID] = []
    for value in values:
        try:
            parsed.append(uuid.UUID(str(value)))
        except ValueError:
            log.warning("ignoring a malformed id", value=str(value)[:64])
    return parsed


def chunks(device_ids: Sequence[uuid.UUID], size: int = FANOUT_CHUNK) -> list[list[str]]:
    return [[str(d) for d in device_ids[i : i + size]] for i in range(0, len(device_ids), size)]


def declare_planning_actors(
    broker: dramatiq.Broker,
    *,
    services: ServicesProvider = runtime_services,
    computer: PlanComputer | None = None,
) -> PlanningActors:
    """Declare the three planning actors on `broker`; the fan-outs enqueue onto the same one."""
    plan_computer = computer or PlanComputer()

    async def fan_out(device_ids: Sequence[uuid.UUID]) -> int:
        batches = chunks(device_ids)
        if batches:
            # `send` is blocking I/O: keep it off the event loop other actors share.
            await asyncio.to_thread(_send_all, regenerate_actor, batches)
        return len(batches)

    async def regenerate_plans(device_ids: list[str]) -> None:
        svc = await services()
        report = await regenerate(svc, _uuids(device_ids), computer=plan_computer)
        log.info(
            "plans regenerated",
            devices=report.devices,
            written=report.written,
            distinct_inputs=report.distinct_inputs,
        )

    async def plan_inputs_changed(kind: str, ids: list[str]) -> None:
        try:
            parse_kind(kind)
        except UnknownChangeKind:
            log.error("unknown plan-input change kind; dropped", kind=kind)
            return  # retrying cannot help
        svc = await services()
        async with svc.engine.connect() as conn:
            device_ids = await affected_devices(conn, kind, _uuids(ids))
        batches = await fan_out(device_ids)
        log.info("plan change fanned out", kind=kind, devices=len(device_ids), batches=batches)

    async def roll_plan_horizons() -> None:
        svc = await services()
        now = svc.clock.now()
        marker = svc.keys.key("plans", "roll", horizon_for(now).start.strftime("%Y%m%d"))
        async with svc.engine.connect() as conn:
            device_ids = await devices_needing_roll(conn, now)
        if not device_ids:
            return
        if not await svc.redis.set(marker, "1", nx=True, ex=ROLL_DEBOUNCE_S):
            return  # this boundary's roll was enqueued moments ago
        batches = await fan_out(device_ids)
        log.info("plan horizons rolling", devices=len(device_ids), batches=batches)

    def declare(fn: Callable[..., Awaitable[None]], *, max_retries: int, time_limit: int) -> Any:
        decorate = dramatiq.actor(
            broker=broker, queue_name=QUEUE, max_retries=max_retries, time_limit=time_limit
        )
        return decorate(fn)

    regenerate_actor = declare(regenerate_plans, max_retries=10, time_limit=300_000)
    changed_actor = declare(plan_inputs_changed, max_retries=10, time_limit=120_000)
    roll_actor = declare(roll_plan_horizons, max_retries=3, time_limit=120_000)
    return PlanningActors(regenerate_actor, changed_actor, roll_actor)


def _send_all(actor: Any, batches: list[list[str]]) -> None:
    for batch in batches:
        actor.send(batch)


def plan_trigger(actor: Any) -> Callable[[str, list[str]], Awaitable[None]]:
    """A core.plans.triggers sink that enqueues `actor` (a plan_inputs_changed actor)."""

    async def enqueue(kind: str, ids: list[str]) -> None:
        await asyncio.to_thread(actor.send, kind, ids)

    return enqueue


_actors = declare_planning_actors(workers.broker.broker)
regenerate_plans = _actors.regenerate_plans
plan_inputs_changed = _actors.plan_inputs_changed
roll_plan_horizons = _actors.roll_plan_horizons


def install_plan_trigger() -> None:
    """Make `notify_plan_inputs_changed` enqueue `plan_inputs_changed` in this process.
    Called by each process that changes plan inputs (the API, the workers)."""
    install_sink(plan_trigger(plan_inputs_changed))
