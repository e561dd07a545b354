"""Planning actors: regenerate plans when their inputs change, and roll horizons forward.

- `apply_plan_change(change_id)`: takes a change from the plan-change outbox
  (core.plans.outbox), finds the affected devices (one query) and fans them out as
  `regenerate_plans` messages of at most FANOUT_CHUNK devices, so a change reaching 100,000
  devices becomes 100 small, independently retried tasks spread over the workers. Each batch
  reports back to the outbox; the change is done when all have.
- `regenerate_plans(device_ids, change_id=None, generation=0, batch=0)`: recomputes and
  stores those plans (core.plans.regenerate).
- `relay_plan_changes()`: periodic; hands every change that is not done
  PLAN_OUTBOX_REDISPATCH_S after its last hand-off to `apply_plan_change` again (a message
  lost with Redis, a hand-off that failed at commit time), and purges old done changes.
- `reconcile_plans()`: periodic; regenerates the next slice of the fleet from its current
  inputs (core.plans.reconcile), healing stale plans and lost ETags whatever their cause.
- `roll_plan_horizons()`: periodic; fans out the devices whose plan was made for an earlier
  horizon boundary.
- `plan_inputs_changed(kind, ids)`: the pre-outbox message, kept so that messages enqueued by
  an older release are still applied during an upgrade.

All are idempotent (delivery is at-least-once): regenerating an unchanged plan writes
nothing, and the fan-outs only enqueue idempotent work. They take ids, never objects.

The actors are declared by `declare_planning_actors(broker)`: the module declares them once
on the process broker, and tests declare them on a broker of their own (a RedisBroker with a
unique namespace) with their own Services, without touching the global broker.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog

import workers.broker  # the broker must be set before actors are declared
from core.backends import backend_unavailable
from core.bootstrap import Services
from core.plans import (
    PlanComputer,
    UnknownChangeKind,
    affected_devices,
    devices_needing_roll,
    outbox,
    regenerate,
)
from core.plans.affected import parse_kind
from core.plans.reconcile import take_slice
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
    apply_plan_change: Any
    relay_plan_changes: Any
    reconcile_plans: Any


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
    """Declare the planning actors on `broker`; the fan-outs enqueue onto the same one."""
    plan_computer = computer or PlanComputer()

    async def fan_out(
        device_ids: Sequence[uuid.UUID], *, change_id: int | None = None, generation: int = 0
    ) -> int:
        batches = chunks(device_ids)
        if batches:
            # `send` is blocking I/O: keep it off the event loop other actors share.
            await asyncio.to_thread(
                _send_all, regenerate_actor, batches, change_id=change_id, generation=generation
            )
        return len(batches)

    async def regenerate_plans(
        device_ids: list[str], change_id: int | None = None, generation: int = 0, batch: int = 0
    ) -> None:
        svc = await services()
        report = await regenerate(svc, _uuids(device_ids), computer=plan_computer)
        done = False
        if change_id is not None:
            done = await outbox.finish_batch(svc, change_id, generation, batch)
        log.info(
            "plans regenerated",
            devices=report.devices,
            written=report.written,
            distinct_inputs=report.distinct_inputs,
            change_id=change_id,
            change_done=done,
        )

    async def apply_plan_change(change_id: int) -> None:
        svc = await services()
        dispatch = await outbox.begin_dispatch(svc, int(change_id), FANOUT_CHUNK)
        if dispatch is None:
            return
        batches = await fan_out(
            dispatch.device_ids, change_id=dispatch.change.id, generation=dispatch.generation
        )
        log.info(
            "plan change fanned out",
            change_id=dispatch.change.id,
            kind=dispatch.change.kind.value,
            devices=len(dispatch.device_ids),
            batches=batches,
            generation=dispatch.generation,
        )

    async def relay_plan_changes() -> None:
        overdue, purged = await outbox.relay_overdue(await services())
        if overdue:
            await asyncio.to_thread(_send_each, changed_actor_v2, overdue)
            log.warning("plan changes handed on again", changes=len(overdue), first=overdue[0])
        if purged:
            log.info("done plan changes purged", changes=purged)

    async def reconcile_plans() -> None:
        device_ids, complete = await take_slice(await services())
        batches = await fan_out(device_ids)
        log.info(
            "plan reconciliation slice",
            devices=len(device_ids),
            batches=batches,
            walk_complete=complete,
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

    def periodic(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """A periodic job meeting an outage skips this run with one warning line: the
        scheduler enqueues it again at its next interval, so a traceback (and Dramatiq's
        "retries exceeded") per run of a 40 s database freeze would only be noise."""

        @functools.wraps(fn)
        async def run() -> None:
            try:
                await fn()
            except Exception as exc:
                if not backend_unavailable(exc):
                    raise
                log.warning(
                    "periodic planning job skipped: backend unavailable",
                    job=fn.__name__,
                    error=type(exc).__name__,
                )

        return run

    def declare(fn: Callable[..., Awaitable[None]], *, max_retries: int, time_limit: int) -> Any:
        decorate = dramatiq.actor(
            broker=broker, queue_name=QUEUE, max_retries=max_retries, time_limit=time_limit
        )
        return decorate(fn)

    regenerate_actor = declare(regenerate_plans, max_retries=10, time_limit=300_000)
    changed_actor = declare(plan_inputs_changed, max_retries=10, time_limit=120_000)
    roll_actor = declare(roll_plan_horizons, max_retries=3, time_limit=120_000)
    changed_actor_v2 = declare(apply_plan_change, max_retries=10, time_limit=120_000)
    # The periodic jobs are re-enqueued by the scheduler at their next interval: no retries.
    relay_actor = declare(periodic(relay_plan_changes), max_retries=0, time_limit=120_000)
    reconcile_actor = declare(periodic(reconcile_plans), max_retries=0, time_limit=120_000)
    return PlanningActors(
        regenerate_actor,
        changed_actor,
        roll_actor,
        changed_actor_v2,
        relay_actor,
        reconcile_actor,
    )


def _send_all(
    actor: Any, batches: list[list[str]], *, change_id: int | None, generation: int
) -> None:
    for number, batch in enumerate(batches):
        if change_id is None:
            actor.send(batch)
        else:
            actor.send(batch, change_id, generation, number)


def _send_each(actor: Any, change_ids: list[int]) -> None:
    for change_id in change_ids:
        actor.send(change_id)


def plan_trigger(actor: Any) -> Callable[[int], Awaitable[None]]:
    """A core.plans.triggers sink that enqueues `actor` (an apply_plan_change actor)."""

    async def enqueue(change_id: int) -> None:
        await asyncio.to_thread(actor.send, change_id)

    return enqueue


_actors = declare_planning_actors(workers.broker.broker)
regenerate_plans = _actors.regenerate_plans
plan_inputs_changed = _actors.plan_inputs_changed
roll_plan_horizons = _actors.roll_plan_horizons
apply_plan_change = _actors.apply_plan_change
relay_plan_changes = _actors.relay_plan_changes
reconcile_plans = _actors.reconcile_plans


def install_plan_trigger() -> None:
    """Make `notify_plan_inputs_changed` enqueue `apply_plan_change` in this process.
    Called by each process that changes plan inputs (the API, the workers)."""
    install_sink(plan_trigger(apply_plan_change))
