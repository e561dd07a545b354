"""The faults, one function each, and the plan change some of them commit mid-fault.

Every fault runs while the simulated fleet is in steady state. It stamps the moment it was
injected and the moment it was undone (`FaultContext.injected`, `recovered`): the
measurements line the fleet's errors up with these. A killed process is started again after
RESTART_DELAY_S, as a container runtime's restart policy would; the time it then takes to
come up is part of the time to recover.

Most faults also commit one plan change (the run's schedule gets a new end date, which
changes every device's plan) just before the fault hits, so that a change is in flight when
it does; the two "change" faults commit theirs during the fault. Stale devices after the
documented reconciliation bound mean a change was lost on the way to the players.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faults.cluster import Cluster
from faults.stack import Stack
from simulator.console import ERROR_FIELDS, ConsoleClient, ConsoleError
from simulator.stats import FleetStats
from simulator.transport import FleetHttp, Unreachable

RESTART_DELAY_S = 1.0

_SCHEDULE_FIELDS = "id name targetType targetId playlistId campaignId timezone priority validFrom"


class PlanChanger:
    """Commits plan changes through the admin API, as an operator would."""

    def __init__(self, api_url: str, email: str, password: str) -> None:
        self._http = FleetHttp(max_connections=2, timeout_s=20.0)
        self._console = ConsoleClient(
            self._http, FleetStats(), api_url, email=email, password=password
        )
        self._schedule: dict[str, Any] | None = None
        self.changes = 0

    async def close(self) -> None:
        await self._http.__aexit__()

    async def prepare(self, run_name: str) -> None:
        """Log in (login needs Redis: done before any fault) and find the run's schedule."""
        await self._console.login()
        data = await self._console.execute(
            "query($n: String!) { campaigns(filter: {search: $n}, first: 10)"
            " { nodes { id name } } }",
            {"n": run_name},
        )
        campaign = next(n for n in data["campaigns"]["nodes"] if n["name"] == run_name)
        data = await self._console.execute(
            f"query($c: UUID!) {{ schedules(filter: {{campaignId: $c}}, first: 10)"
            f" {{ nodes {{ {_SCHEDULE_FIELDS} }} }} }}",
            {"c": campaign["id"]},
        )
        self._schedule = data["schedules"]["nodes"][0]

    async def change(self) -> str:
        """Give the run's schedule a new end date (inside the plan horizon, so every plan of
        the run's devices changes); returns what was changed."""
        if self._schedule is None:
            raise RuntimeError("prepare() first")
        self.changes += 1
        valid_to = (datetime.now(UTC) + timedelta(days=1 + self.changes)).date().isoformat()
        schedule = self._schedule
        await self._console.mutate(
            "mutation($id: UUID!, $i: ScheduleInput!) { updateSchedule(id: $id, input: $i) {"
            f" __typename ... on ScheduleSuccess {{ schedule {{ id }} }} {ERROR_FIELDS} }} }}",
            "updateSchedule",
            "ScheduleSuccess",
            {
                "id": schedule["id"],
                "i": {
                    "targetType": schedule["targetType"],
                    "targetId": schedule["targetId"],
                    "playlistId": schedule["playlistId"],
                    "name": schedule["name"],
                    "campaignId": schedule["campaignId"],
                    "timezone": schedule["timezone"],
                    "priority": schedule["priority"],
                    "validFrom": schedule["validFrom"],
                    "validTo": valid_to,
                    "enabled": True,
                },
            },
        )
        return f"schedule valid to {valid_to}"


@dataclass
class FaultContext:
    cluster: Cluster
    stack: Stack
    changer: PlanChanger
    actions: list[tuple[float, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    injected_at: float | None = None
    recovered_at: float | None = None
    last_change_at: float | None = None

    def mark(self, what: str) -> None:
        self.actions.append((time.time(), what))

    def injected(self, what: str) -> None:
        self.injected_at = time.time()
        self.mark(what)

    def recovered(self, what: str) -> None:
        self.recovered_at = time.time()
        self.mark(what)

    async def change_plan(self, when: str) -> None:
        """Commit a plan change; a refusal is noted (a fault may rightly refuse it)."""
        try:
            what = await self.changer.change()
        except (ConsoleError, Unreachable) as exc:
            self.notes.append(f"plan change {when} refused: {exc}")
            self.mark(f"plan change refused ({when})")
            return
        self.last_change_at = time.time()
        self.mark(f"plan change committed {when}: {what}")


Inject = Callable[[FaultContext], Awaitable[None]]


@dataclass(frozen=True)
class Fault:
    name: str
    title: str
    hold_s: float  # roughly how long the fault itself lasts, for sizing the run
    inject: Inject


async def no_fault(ctx: FaultContext) -> None:
    await ctx.change_plan("with nothing broken")
    ctx.injected("nothing injected")
    ctx.recovered("nothing to undo")


def _kill_and_restart(kind: str) -> Inject:
    async def inject(ctx: FaultContext) -> None:
        await ctx.change_plan(f"just before {kind} is killed")
        process = ctx.stack.processes[kind]
        process.kill9()
        ctx.injected(f"{kind}: SIGKILL to its process group")
        await asyncio.sleep(RESTART_DELAY_S)
        process.start()
        ctx.recovered(f"{kind}: started again")

    return inject


async def postgres_kill9(ctx: FaultContext) -> None:
    await ctx.change_plan("just before PostgreSQL is killed")
    ctx.cluster.postgres.kill9()
    ctx.injected("PostgreSQL: SIGKILL to the postmaster and every backend")
    await asyncio.sleep(RESTART_DELAY_S)
    await asyncio.to_thread(ctx.cluster.postgres.start)
    ctx.recovered("PostgreSQL: started again (crash recovery done)")


def _redis_restart(*, empty: bool) -> Inject:
    async def inject(ctx: FaultContext) -> None:
        await ctx.change_plan("just before Redis is killed")
        ctx.cluster.redis.kill9()
        ctx.injected("Redis: SIGKILL")
        if empty:
            ctx.cluster.redis.wipe()
        await asyncio.sleep(RESTART_DELAY_S)
        await asyncio.to_thread(ctx.cluster.redis.start)
        ctx.recovered("Redis: started again " + ("empty" if empty else "from its AOF"))

    return inject


def _postgres_freeze(seconds: float) -> Inject:
    async def inject(ctx: FaultContext) -> None:
        await ctx.change_plan("just before PostgreSQL is frozen")
        ctx.cluster.postgres.freeze()
        ctx.injected(f"PostgreSQL: SIGSTOP to every process for {seconds:.0f}s")
        try:
            await asyncio.sleep(seconds)
        finally:
            ctx.cluster.postgres.thaw()
        ctx.recovered("PostgreSQL: SIGCONT")

    return inject


async def change_while_redis_down(ctx: FaultContext) -> None:
    ctx.cluster.redis.stop()
    ctx.injected("Redis: stopped")
    await asyncio.sleep(1.0)
    await ctx.change_plan("while Redis is unreachable")
    await asyncio.sleep(4.0)
    await asyncio.to_thread(ctx.cluster.redis.start)
    ctx.recovered("Redis: started again with its data")


async def change_queued_redis_empty(ctx: FaultContext) -> None:
    worker = ctx.stack.processes["worker"]
    await asyncio.to_thread(worker.stop)
    ctx.injected("worker: stopped (SIGTERM)")
    await ctx.change_plan("while no worker runs (the message waits in Redis)")
    await asyncio.sleep(1.0)
    ctx.cluster.redis.kill9()
    ctx.cluster.redis.wipe()
    ctx.mark("Redis: SIGKILL, data files deleted")
    await asyncio.sleep(RESTART_DELAY_S)
    await asyncio.to_thread(ctx.cluster.redis.start)
    ctx.mark("Redis: started again empty")
    worker.start()
    ctx.recovered("worker: started again")


FAULTS: tuple[Fault, ...] = (
    Fault("baseline", "no fault (control run)", 0, no_fault),
    Fault("edge-kill9", "edge: kill -9, restarted", 3, _kill_and_restart("edge")),
    Fault("worker-kill9", "worker: kill -9, restarted", 3, _kill_and_restart("worker")),
    Fault("postgres-kill9", "PostgreSQL: kill -9, restarted", 4, postgres_kill9),
    Fault(
        "redis-restart-aof", "Redis: kill -9, restarted from AOF", 3, _redis_restart(empty=False)
    ),
    Fault("redis-restart-empty", "Redis: kill -9, restarted empty", 3, _redis_restart(empty=True)),
    Fault("postgres-freeze-10s", "PostgreSQL: frozen 10 s", 10, _postgres_freeze(10)),
    Fault("postgres-freeze-40s", "PostgreSQL: frozen 40 s", 40, _postgres_freeze(40)),
    Fault(
        "change-redis-down",
        "plan change committed while Redis is unreachable",
        6,
        change_while_redis_down,
    ),
    Fault(
        "change-queued-redis-empty",
        "plan change queued, then Redis restarted empty",
        15,
        change_queued_redis_empty,
    ),
)


def by_name(names: list[str]) -> list[Fault]:
    known = {fault.name: fault for fault in FAULTS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names]
