"""What one fault did, measured from outside the application.

- From the simulator's timeline (requests per wall-clock second and outcome): requests,
  errors by status, unavailability (seconds in which at least one request failed) and the
  players' side of the time to recover (from the moment the suite undid the fault to the end
  of the last second in which a request failed); `probe_readiness` gives the service's side.
- From PostgreSQL and Redis, after the run:
  - lost: acknowledged event ids (the simulator's `--acked-log`) missing from
    `proof_of_play_events`; exact, a set difference;
  - duplicated: what the daily aggregates count for the run's stores (plays_count +
    starts_count: each event is exactly one PLAY_END or one PLAY_START) minus the distinct
    event ids stored for those stores;
  - stale: the run's devices whose served plan is not the one their current inputs give.
    "Served" is what the edge hands out: the stored plan (`playout_plans`, a full download)
    and the cached ETag in Redis (the heartbeat's `plan_changed` and the 304s) when there is
    one. "Current" is computed here, read-only, by the planning engine itself
    (`core.plans.loader` + `PlanComputer`) on one REPEATABLE READ snapshot.
- From the processes: wedged (alive but not doing its job) or dead. The HTTP apps must answer
  /healthz and /readyz; the worker must run a job sent to it after recovery (the
  `heartbeat_self_check` actor, which stamps a Redis key); the scheduler must have enqueued
  something after recovery (its per-job last-run hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.engine import create_engine
from core.devices.heartbeat import plan_etag_key
from core.plans.computer import PlanComputer
from core.plans.loader import load_plan_inputs
from core.plans.service import snapshot
from core.redis_client import Keys
from core.scheduling import horizon_for
from faults.stack import HTTP_KINDS, KEY_PREFIX, Stack, http_ok


def succeeded(outcome: str) -> bool:
    """2xx, and 304 (the plan is unchanged), as the simulator counts them."""
    return outcome.isdigit() and (200 <= int(outcome) < 300 or outcome == "304")


# --- the fleet's view ------------------------------------------------------------------------


@dataclass
class Traffic:
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unavailable_s: int = 0
    recover_s: float | None = None  # None: the fault was never undone

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


def read_timeline(path: Path) -> list[tuple[int, dict[str, int]]]:
    if not path.exists():
        return []
    return [
        (int(second), dict(outcomes))
        for second, outcomes in orjson.loads(path.read_bytes())["seconds"]
    ]


def traffic(timeline: list[tuple[int, dict[str, int]]], recovered_at: float | None) -> Traffic:
    result = Traffic()
    last_failure: int | None = None
    for second, outcomes in timeline:
        failed = 0
        for outcome, count in outcomes.items():
            result.requests += count
            if not succeeded(outcome):
                result.errors[outcome] = result.errors.get(outcome, 0) + count
                failed += count
        if failed:
            result.unavailable_s += 1
            last_failure = second
    if recovered_at is not None and last_failure is not None and last_failure + 1 > recovered_at:
        result.recover_s = last_failure + 1 - recovered_at
    elif recovered_at is not None:
        result.recover_s = 0.0
    return result


DEVICE_ENDPOINTS = ("heartbeat", "plan", "events")


def device_p99_ms(result_json: Path) -> dict[str, float]:
    """The p99 latency of the players' endpoints, from the simulator's `--result-json`."""
    if not result_json.exists():
        return {}
    endpoints = orjson.loads(result_json.read_bytes()).get("endpoints", {})
    return {
        name: float(endpoints[name]["p99_ms"]) for name in DEVICE_ENDPOINTS if name in endpoints
    }


# --- the data --------------------------------------------------------------------------------


@dataclass
class Ledger:
    acked: int
    lost: int
    lost_sample: list[str]
    stored_events: int
    aggregated: int
    duplicated: int


_LOST = sa.text(
    """
    SELECT a.id FROM unnest(CAST(:ids AS uuid[])) AS a(id)
    WHERE NOT EXISTS (SELECT 1 FROM proof_of_play_events e WHERE e.event_id = a.id)
    """
)
_RUN_STORES = "SELECT id FROM stores WHERE starts_with(name, :prefix)"
_COUNTS = sa.text(
    f"""
    SELECT
      (SELECT COALESCE(sum(plays_count + starts_count), 0) FROM proof_of_play_aggregate_daily
        WHERE store_id IN ({_RUN_STORES})) AS aggregated,
      (SELECT count(DISTINCT event_id) FROM proof_of_play_events
        WHERE store_id IN ({_RUN_STORES})) AS distinct_events
    """  # noqa: S608 - constants only
)
_RUN_DEVICES = sa.text(
    f"SELECT id FROM devices WHERE store_id IN ({_RUN_STORES}) ORDER BY id"  # noqa: S608
)
_STORED_ETAGS = sa.text(
    "SELECT device_id, etag FROM playout_plans WHERE device_id = ANY(CAST(:ids AS uuid[]))"
)


def store_prefix(run_name: str) -> str:
    """The simulator names a run's stores `<name> store 0000`, ..."""
    return f"{run_name} store "


async def ledger(engine: AsyncEngine, run_name: str, acked_ids: list[str]) -> Ledger:
    ids = sorted(set(acked_ids))
    async with engine.connect() as conn:
        missing = [str(row[0]) for row in await conn.execute(_LOST, {"ids": ids})]
        counts = (await conn.execute(_COUNTS, {"prefix": store_prefix(run_name)})).one()
    return Ledger(
        acked=len(ids),
        lost=len(missing),
        lost_sample=missing[:5],
        stored_events=int(counts.distinct_events),
        aggregated=int(counts.aggregated),
        duplicated=int(counts.aggregated) - int(counts.distinct_events),
    )


# --- the plans -------------------------------------------------------------------------------


@dataclass
class Staleness:
    devices: int
    stale: int
    stored_behind: int  # playout_plans differs from the current inputs
    cache_behind: int  # Redis announces another ETag than the current one
    cache_missing: int  # no ETag in Redis (the edge then serves the stored plan)


async def staleness(engine: AsyncEngine, redis_url: str, run_name: str) -> Staleness:
    computer = PlanComputer()
    async with snapshot(engine) as conn:
        device_ids = [
            row[0] for row in await conn.execute(_RUN_DEVICES, {"prefix": store_prefix(run_name)})
        ]
        shared = await load_plan_inputs(conn, device_ids, horizon_for(datetime.now(UTC)))
        current: dict[uuid.UUID, str] = {}
        for entry in shared:
            etag = computer.compute(entry.inputs).etag
            current.update({device_id: etag for device_id in entry.device_ids})
        stored = {
            row.device_id: row.etag
            for row in await conn.execute(_STORED_ETAGS, {"ids": list(current)})
        }
    client = aioredis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        keys = Keys(KEY_PREFIX)
        ordered = list(current)
        raw = await client.mget([plan_etag_key(keys, d) for d in ordered]) if ordered else []
    finally:
        await client.aclose()
    cached = {
        d: (value.decode() if isinstance(value, bytes) else value)
        for d, value in zip(ordered, raw, strict=True)
    }
    result = Staleness(len(current), 0, 0, 0, 0)
    for device_id, etag in current.items():
        stored_behind = stored.get(device_id) != etag
        announced = cached.get(device_id)
        cache_behind = announced is not None and announced != etag
        result.stored_behind += stored_behind
        result.cache_behind += cache_behind
        result.cache_missing += announced is None
        result.stale += stored_behind or cache_behind
    return result


async def stored_etags(engine: AsyncEngine, run_name: str) -> dict[uuid.UUID, str]:
    """The run's devices' stored plan ETags (taken before a fault's change, they show the
    change really altered the plans: otherwise "stale = 0" would prove nothing)."""
    async with engine.connect() as conn:
        device_ids = [
            row[0] for row in await conn.execute(_RUN_DEVICES, {"prefix": store_prefix(run_name)})
        ]
        rows = await conn.execute(_STORED_ETAGS, {"ids": device_ids})
        return {row.device_id: row.etag for row in rows}


# --- the processes ---------------------------------------------------------------------------


async def _until(
    check: Callable[[], Awaitable[bool]], timeout_s: float, every_s: float = 0.5
) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if await check():
                return True
        except (OSError, aioredis.RedisError):
            pass  # not there yet
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every_s)


async def _http_healthy(stack: Stack, kind: str) -> bool:
    base = stack.base_url(kind)
    return await asyncio.to_thread(lambda: http_ok(f"{base}/healthz") and http_ok(f"{base}/readyz"))


def send_worker_probe(stack: Stack) -> None:
    """Enqueue one `heartbeat_self_check` through the stack's own broker settings."""
    code = "from workers.actors import heartbeat_self_check\nheartbeat_self_check.send()\n"
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code],
        env=stack.env,
        cwd=stack.work_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not enqueue the worker probe: {done.stderr[-500:]}")


async def _worker_answers(stack: Stack, client: aioredis.Redis, timeout_s: float) -> str:
    sent_at = datetime.now(UTC)
    try:
        await asyncio.to_thread(send_worker_probe, stack)
    except RuntimeError as exc:
        return str(exc)
    key = Keys(KEY_PREFIX).key("worker", "last_self_check")

    async def stamped() -> bool:
        value = await client.get(key)
        if value is None:
            return False
        text = value.decode() if isinstance(value, bytes) else str(value)
        return datetime.fromisoformat(text) >= sent_at

    if await _until(stamped, timeout_s):
        return ""
    return f"did not run a job sent to it within {timeout_s:.0f}s"


async def _scheduler_ticks(client: aioredis.Redis, since: float, timeout_s: float) -> str:
    key = Keys(KEY_PREFIX).key("scheduler", "last-run")

    async def enqueued() -> bool:
        runs = await client.hgetall(key)
        return any(float(value) > since for value in runs.values())

    if await _until(enqueued, timeout_s):
        return ""
    return f"enqueued nothing within {timeout_s:.0f}s"


async def wedged(
    stack: Stack, redis_url: str, since: float, *, timeout_s: float = 45.0
) -> dict[str, str]:
    """Each process that is dead or not doing its job after `since`, and why."""
    problems: dict[str, str] = {}
    for kind, process in stack.processes.items():
        if not process.alive:
            problems[kind] = f"exited with {process.exit_code}"
    client = aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        checks: dict[str, asyncio.Future[str]] = {}
        for kind in HTTP_KINDS:
            if kind not in problems:
                checks[kind] = asyncio.ensure_future(
                    _http_problem(stack, kind, min(timeout_s, 20.0))
                )
        if "worker" not in problems:
            checks["worker"] = asyncio.ensure_future(_worker_answers(stack, client, timeout_s))
        if "scheduler" not in problems:
            checks["scheduler"] = asyncio.ensure_future(_scheduler_ticks(client, since, timeout_s))
        for kind, check in checks.items():
            try:
                problem = await check
            except Exception as exc:  # a probe that cannot run says so, it does not crash
                problem = f"probe failed: {type(exc).__name__}: {exc}"
            if problem:
                problems[kind] = problem
    finally:
        await client.aclose()
    return problems


async def _http_problem(stack: Stack, kind: str, timeout_s: float) -> str:
    if await _until(lambda: _http_healthy(stack, kind), timeout_s, every_s=1.0):
        return ""
    return f"alive but /healthz or /readyz not 200 within {timeout_s:.0f}s"


@dataclass
class Readiness:
    """The HTTP apps' /readyz, probed every PROBE_EVERY_S from just before the fault."""

    not_ready_s: float = 0.0  # how long edge or api was not ready
    ready_after_s: float | None = None  # from the fault's undoing to both ready again


PROBE_EVERY_S = 0.25


async def probe_readiness(
    stack: Stack, recovered_at: Callable[[], float | None], *, give_up_after_s: float = 180.0
) -> Readiness:
    """Probe until both apps are ready after the fault was undone (`recovered_at()` set)."""

    def both_ready() -> bool:
        return all(http_ok(f"{stack.base_url(kind)}/readyz", 1.0) for kind in HTTP_KINDS)

    result = Readiness()
    last: tuple[float, bool] | None = None  # the previous sample: when, and ready or not
    while True:
        ok = await asyncio.to_thread(both_ready)
        now = time.time()
        if last is not None and not last[1]:
            result.not_ready_s += now - last[0]
        undone = recovered_at()
        if undone is not None and now >= undone:
            if ok:
                was_down = last is not None and not last[1]
                result.ready_after_s = max(0.0, now - undone) if was_down else 0.0
                return result
            if now - undone > give_up_after_s:
                return result
        last = (now, ok)
        await asyncio.sleep(PROBE_EVERY_S)


async def plans_current_after(
    engine: AsyncEngine, redis_url: str, run_name: str, since: float, until: float
) -> float | None:
    """Seconds from `since` until no device of the run is stale (polled), or None by `until`."""
    while time.time() < until:
        with contextlib.suppress(Exception):  # a backend still coming back: try again
            if (await staleness(engine, redis_url, run_name)).stale == 0:
                return max(0.0, time.time() - since)
        await asyncio.sleep(2.0)
    return None


def measuring_engine(database_url: str) -> AsyncEngine:
    return create_engine(database_url, pool_size=2, max_overflow=0)
