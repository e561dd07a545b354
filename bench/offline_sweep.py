"""Monitoring sweep benchmark (issue 7): one sweep over 100,000 devices in under 1 s.

    .venv/bin/python bench/offline_sweep.py [--devices 100000] [--stores 2000] [--runs 3]

On a throwaway database (created, migrated and dropped here; DATABASE_URL or localhost:5432
for the server, REDIS_URL or localhost:6379), it generates with `generate_series`:
- stores in six timezones with a few opening-hour templates (weekdays, 24/7, overnight,
  closed days), so at the benchmark instant some are open and some closed;
- 20 device groups with storage caps and thresholds;
- the devices, with realistic telemetry: ~5% silent past their threshold (they go offline
  and, in open stores, raise OFFLINE_DURING_HOURS), ~1% near their storage cap, some crash
  loops, download failures and stuck playback; plus already-open incidents whose conditions
  have cleared (they resolve).
Then it times the real `run_sweep` (including publishing its events on Redis after COMMIT):
the first sweep does the work, later ones find a steady state. A breakdown per statement
runs first in a transaction that is rolled back, and the open-stores step is timed again with
every store given distinct hours (the worst case for evaluating hours in Python once per
distinct (timezone, hours) pair).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.bootstrap import Services, build_services  # noqa: E402
from core.clock import FrozenClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db.engine import create_engine  # noqa: E402
from core.db.migrations import upgrade  # noqa: E402
from core.monitoring.rules import Thresholds  # noqa: E402
from core.monitoring.sweep import (  # noqa: E402
    mark_stale_devices_offline,
    open_new_incidents,
    open_store_ids,
    resolve_cleared_incidents,
    run_sweep,
    tune_transaction,
)

# Monday 2026-03-02 15:00 UTC: Europe open, New York open, Los Angeles (07:00) and Tokyo
# (midnight) closed unless 24/7 or overnight, Sydney (02:00) only overnight.
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TIMEZONES = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
HOURS_TEMPLATES = [
    {**{d: [{"open": "09:00", "close": "21:00"}] for d in WEEKDAYS}, "sat": [], "sun": []},
    {d: [{"open": "00:00", "close": "24:00"}] for d in [*WEEKDAYS, "sat", "sun"]},
    {d: [{"open": "18:00", "close": "02:00"}] for d in [*WEEKDAYS, "sat", "sun"]},
    {
        **{
            d: [{"open": "08:00", "close": "12:00"}, {"open": "14:00", "close": "19:00"}]
            for d in WEEKDAYS
        },
        "sun": [],
    },
]

T = TypeVar("T")


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(dsn(server_url(), "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


POPULATE = [
    # stores: timezone by id, hours template by id / 6
    """
    INSERT INTO stores (name, city, timezone, operating_hours_json)
    SELECT 'Store ' || s, 'City ' || (s % 50),
           (CAST(:timezones AS text[]))[1 + s % 6],
           (CAST(:templates AS jsonb[]))[1 + (s / 6) % 4]
    FROM generate_series(0, :stores - 1) AS s
    """,
    """
    INSERT INTO device_groups (name, policy_json)
    SELECT 'Group ' || g, jsonb_build_object(
        'heartbeat_interval_s', 60, 'offline_threshold_s', 180 + 60 * (g % 3),
        'storage_cap_bytes', 8589934592)
    FROM generate_series(0, 19) AS g
    """,
    """
    INSERT INTO content (id, name, type)
    VALUES ('00000000-0000-0000-0000-0000000000c1', 'spot', 'video')
    """,
    """
    INSERT INTO content_versions (content_id, version_number, version_hash, storage_key, url,
                                  sha256, bytes, mime, duration_ms)
    VALUES ('00000000-0000-0000-0000-0000000000c1', 1, 'v-spot-1', 'k/spot', 'https://cdn/spot',
            repeat('0', 64), 1000, 'video/mp4', 30000)
    """,
    """
    WITH s AS (SELECT array_agg(id ORDER BY name) AS ids FROM stores),
         g AS (SELECT array_agg(id ORDER BY name) AS ids FROM device_groups)
    INSERT INTO devices (external_name, store_id, group_id, status, status_changed_at,
                         last_seen_at, disk_used_bytes, last_error, counters_json,
                         now_playing_json, player_version)
    SELECT 'Screen ' || i,
           s.ids[1 + i % cardinality(s.ids)],
           g.ids[1 + i % 20],
           'online',
           CAST(:now AS timestamptz) - interval '1 day',
           CASE WHEN i % 20 = 0                                          -- ~5% silent
                THEN CAST(:now AS timestamptz) - interval '30 minutes'
                ELSE CAST(:now AS timestamptz) - make_interval(secs => i % 50) END,
           CASE WHEN i % 100 = 1 THEN 8000000000 ELSE 2000000000 + i END,  -- ~1% near cap
           CASE WHEN i % 500 = 2 THEN 'download_failed: HTTP 404' END,
           jsonb_build_object('uptime_s', 3600 + i, 'crashes_1h', CASE WHEN i % 700 = 3
                              THEN 5 ELSE 0 END, 'download_failures', 0, 'plays', i),
           jsonb_build_object(
               'content_id', '00000000-0000-0000-0000-0000000000c1',
               'content_version', '1',
               'started_at', to_char((CAST(:now AS timestamptz)
                                      - CASE WHEN i % 1000 = 4 THEN interval '1 hour'
                                        ELSE interval '10 seconds' END) AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'position_ms', CASE WHEN i % 1000 = 4 THEN 3000000 ELSE 10000 END),
           '2.4.1'
    FROM generate_series(0, :devices - 1) AS i, s, g
    """,
    # open incidents whose condition has cleared (healthy devices): they must resolve
    """
    INSERT INTO incidents (device_id, store_id, type, severity, status, created_at, updated_at)
    SELECT id, store_id, 'LOW_STORAGE', 'WARNING', 'OPEN',
           CAST(:now AS timestamptz) - interval '2 hours',
           CAST(:now AS timestamptz) - interval '2 hours'
    FROM devices WHERE disk_used_bytes < 3000000000 AND random() < :cleared_share
    """,
]


class CpuMeter:
    """Wall time plus the CPU time of the PostgreSQL backend and of this process: the machine
    may be shared, and CPU time is what the sweep would cost on an idle one."""

    def __init__(self, backend_pid: int) -> None:
        self._stat = Path(f"/proc/{backend_pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")

    def _backend_cpu(self) -> float:
        try:
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # PostgreSQL on another machine: no backend CPU figure
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / self._tick

    async def measure(self, fn: Callable[[], Awaitable[T]]) -> tuple[T, str]:
        wall, db, py = time.perf_counter(), self._backend_cpu(), time.process_time()
        result = await fn()
        wall = time.perf_counter() - wall
        db = self._backend_cpu() - db
        py = time.process_time() - py
        return result, (
            f"{1000 * wall:7.1f} ms wall  (CPU: PostgreSQL {1000 * db:6.0f} ms,"
            f" Python {1000 * py:5.0f} ms)"
        )


async def timed(meter: CpuMeter, label: str, fn: Callable[[], Awaitable[T]]) -> T:
    result, figures = await meter.measure(fn)
    print(f"  {label:<44} {figures}")
    return result


async def bench(database_url: str, redis_url: str, devices: int, stores: int, runs: int) -> None:
    settings = Settings.model_validate(
        {
            "SIGNAGE_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:",
        }
    )
    built = build_services(settings, clock=FrozenClock(NOW))
    await built.engine.dispose()
    # One connection, so the backend whose CPU time is measured is the one doing the work.
    services = dataclasses.replace(
        built, engine=create_engine(database_url, pool_size=1, max_overflow=0)
    )
    try:
        params: dict[str, Any] = {
            "stores": stores,
            "devices": devices,
            "now": NOW,
            "timezones": TIMEZONES,
            "templates": [json.dumps(t) for t in HOURS_TEMPLATES],
            "cleared_share": 2000 / devices,
        }
        started = time.perf_counter()
        async with services.engine.begin() as conn:
            for statement in POPULATE:
                await conn.execute(text(statement), params)
        async with services.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
        print(
            f"generated {devices} devices in {stores} stores in "
            f"{time.perf_counter() - started:.1f} s"
        )

        async with services.engine.connect() as conn:
            meter = CpuMeter(
                int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            )

        await breakdown(services, meter, None, "warm-up: compile statements (not timed)")
        await breakdown(services, meter, stores, "breakdown before the first sweep")
        print("run_sweep (commit + publish events on Redis):")
        for run in range(1, runs + 1):
            result, figures = await meter.measure(lambda: run_sweep(services))
            print(
                f"  sweep {run}: {figures}  offline={len(result.went_offline)} "
                f"opened={len(result.opened)} resolved={len(result.resolved)}"
            )
        await breakdown(services, meter, stores, "breakdown in the steady state")
    finally:
        await services.close()


async def breakdown(
    services: Services, meter: CpuMeter | None, stores: int | None, title: str
) -> None:
    """Each step of the sweep timed on its own, in one transaction that is rolled back."""
    print(f"{title} (one transaction, rolled back):")
    thresholds = Thresholds()

    async def step(label: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await (timed(meter, label, fn) if meter is not None and stores else fn())

    async with services.uow() as uow:
        conn = uow.conn
        await tune_transaction(conn)
        went = await step(
            "1. mark stale devices offline (+transitions)",
            lambda: mark_stale_devices_offline(conn, NOW),
        )
        open_ids = await step(
            "2. open stores (Python per distinct hours)", lambda: open_store_ids(conn, NOW)
        )
        resolved = await step(
            "3. resolve cleared incidents",
            lambda: resolve_cleared_incidents(conn, NOW, open_ids, thresholds),
        )
        opened = await step(
            "4. open new incidents",
            lambda: open_new_incidents(conn, NOW, open_ids, thresholds),
        )
        if stores:
            print(
                f"  -> {len(went)} offline, {len(open_ids)}/{stores} stores open, "
                f"{len(resolved)} resolved, {len(opened)} opened"
            )
        await conn.execute(
            text(
                "UPDATE stores SET operating_hours_json = jsonb_set(operating_hours_json, "
                "'{mon}', jsonb_build_array(jsonb_build_object('open', "
                "lpad(((abs(hashtext(id::text)) % 10))::text, 2, '0') || ':' || "
                "lpad(((abs(hashtext(id::text)) % 60))::text, 2, '0'), 'close', '23:00')))"
            )
        )
        await step("2'. open stores, every store distinct hours", lambda: open_store_ids(conn, NOW))
        await uow.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    args = parser.parse_args()
    name = f"signage_bench_sweep_{uuid.uuid4().hex[:8]}"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        database_url = dsn(server_url(), name)
        upgrade(database_url)
        asyncio.run(bench(database_url, redis_url, args.devices, args.stores, args.runs))
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
