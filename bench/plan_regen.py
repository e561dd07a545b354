"""Plan regeneration benchmark (issue 5): a schedule change for one big group, end to end.

    .venv/bin/python bench/plan_regen.py [--devices 5000 100000] [--processes 2] [--threads 4]

For each fleet size, on a fresh database (created, migrated and dropped here; DATABASE_URL or
localhost:5432 for the server, REDIS_URL or localhost:6379):
1. one store, one group of N devices with a default playlist, a weekday 09:00-17:00 group
   schedule over a 5-item playlist (set-based inserts);
2. every device gets its current plan (the steady state a change starts from; timed too);
3. real Dramatiq worker processes (`dramatiq workers.plans`, RedisBroker in a namespace of
   this run) are started and idle;
4. the schedule is changed (new dayparts, higher priority) and, after COMMIT,
   `plan_inputs_changed("schedule", [id])` is enqueued: exactly what the programming hook
   does;
5. the clock runs until EVERY device's stored plan has the new ETag and every device's Redis
   ETag key says so (what the edge's 304s and the heartbeats read).

Target: <= 60 s for 100,000 devices on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.bootstrap import build_services  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db.migrations import upgrade  # noqa: E402
from core.devices.heartbeat import plan_etag_key  # noqa: E402
from core.plans import PlanComputer, regenerate  # noqa: E402
from core.plans.loader import load_plan_inputs  # noqa: E402
from core.redis_client import Keys  # noqa: E402
from core.scheduling import horizon_for  # noqa: E402

BEFORE = '{"dayparts": [{"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}]}'
AFTER = '{"dayparts": [{"weekdays": [1, 2, 3, 4, 5, 6], "start": "10:00", "end": "19:30"}]}'


def dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def seed(conn: asyncpg.Connection, devices: int) -> uuid.UUID:
    store = await conn.fetchval(
        "INSERT INTO stores (name, timezone) VALUES ('Bench', 'Europe/Berlin') RETURNING id"
    )
    contents = []
    for n in range(5):
        content_id = await conn.fetchval(
            "INSERT INTO content (name, type) VALUES ($1, 'video') RETURNING id", f"clip {n}"
        )
        await conn.execute(
            "INSERT INTO content_versions (content_id, version_number, version_hash, storage_key,"
            " url, sha256, bytes, mime, duration_ms) VALUES ($1, 1, $2, $3, $4, $5, 5000000,"
            " 'video/mp4', 15000)",
            content_id,
            f"hash-{content_id}",
            f"content/{content_id}/1",
            f"https://cdn.example/content/{content_id}/1.mp4",
            f"{n + 1:064x}",
        )
        contents.append(content_id)
    promo = await conn.fetchval("INSERT INTO playlists (name) VALUES ('Promo') RETURNING id")
    filler = await conn.fetchval("INSERT INTO playlists (name) VALUES ('Filler') RETURNING id")
    for index, content_id in enumerate(contents):
        await conn.execute(
            "INSERT INTO playlist_items (playlist_id, content_id, order_index, weight)"
            " VALUES ($1, $2, $3, $4)",
            promo,
            content_id,
            index,
            1 + index % 2,
        )
    await conn.execute(
        "INSERT INTO playlist_items (playlist_id, content_id, order_index) VALUES ($1, $2, 0)",
        filler,
        contents[0],
    )
    group = await conn.fetchval(
        "INSERT INTO device_groups (name, default_playlist_id) VALUES ('Big', $1) RETURNING id",
        filler,
    )
    schedule_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO schedules (name, target_type, target_id, playlist_id, rules_json)"
        " VALUES ('Promo', 'GROUP', $1, $2, CAST($3 AS jsonb)) RETURNING id",
        group,
        promo,
        BEFORE,
    )
    await conn.execute(
        "INSERT INTO devices (store_id, group_id, status, external_name)"
        " SELECT $1, $2, 'online', 'screen ' || n FROM generate_series(1, $3) AS n",
        store,
        group,
        devices,
    )
    return schedule_id


def start_workers(env: dict[str, str], processes: int, threads: int, log: Path) -> Any:
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.plans",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--queues",
        "planning",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def fresh_counts(
    conn: asyncpg.Connection, redis: aioredis.Redis, keys: Keys, ids: list[Any], etag: str
) -> tuple[int, int]:
    stored = await conn.fetchval("SELECT count(*) FROM playout_plans WHERE etag = $1", etag)
    cached = 0
    for start in range(0, len(ids), 5000):
        values = await redis.mget([plan_etag_key(keys, d) for d in ids[start : start + 5000]])
        cached += sum(1 for v in values if v is not None and v.decode() == etag)
    return int(stored), cached


async def run(devices: int, args: argparse.Namespace) -> None:
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"plan_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn(server, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    prefix = f"bench:{name}:"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "SIGNAGE_ENV": "dev",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("SIGNAGE_BROKER", None)
    os.environ.pop("SIGNAGE_BROKER", None)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX")})
    services = build_services(Settings.model_validate({k: v for k, v in env.items()}))
    worker = None
    try:
        await asyncio.to_thread(upgrade, url)
        conn = await asyncpg.connect(dsn(url))
        schedule_id = await seed(conn, devices)
        ids = [row["id"] for row in await conn.fetch("SELECT id FROM devices ORDER BY id")]

        started = time.perf_counter()
        report = await regenerate(services, ids, computer=PlanComputer())
        initial = time.perf_counter() - started
        print(
            f"[{devices:>7} devices] initial generation in-process: {initial:6.2f} s "
            f"({report.written} rows, {report.batches} batches)"
        )

        worker = start_workers(env, args.processes, args.threads, Path(f"/tmp/{name}.log"))
        # The workers' broker (workers.broker: REDIS_URL, namespace = key prefix + "dramatiq"),
        # built explicitly: each fleet size of this run has its own prefix.
        from dramatiq.brokers.redis import RedisBroker

        from workers.plans import declare_planning_actors

        broker = RedisBroker(url=redis_url, namespace=prefix + "dramatiq")
        plan_inputs_changed = declare_planning_actors(broker).plan_inputs_changed

        await asyncio.sleep(args.warmup)  # worker processes booted and idle

        await conn.execute(
            "UPDATE schedules SET rules_json = CAST($1 AS jsonb), priority = 5 WHERE id = $2",
            AFTER,
            schedule_id,
        )
        changed_at = time.perf_counter()
        await asyncio.to_thread(plan_inputs_changed.send, "schedule", [str(schedule_id)])

        # The ETag every device must end up with (computed read-only, here).
        async with services.engine.connect() as sa_conn:
            [shared] = await load_plan_inputs(sa_conn, ids[:1], horizon_for(services.clock.now()))
        expected = PlanComputer().compute(shared.inputs).etag

        stored = cached = 0
        deadline = changed_at + args.timeout
        while time.perf_counter() < deadline:
            stored = int(
                await conn.fetchval("SELECT count(*) FROM playout_plans WHERE etag = $1", expected)
            )
            if stored == devices:
                break
            await asyncio.sleep(0.25)
        all_stored = time.perf_counter() - changed_at
        while time.perf_counter() < deadline:
            stored, cached = await fresh_counts(conn, services.redis, services.keys, ids, expected)
            if stored == devices and cached == devices:
                break
            await asyncio.sleep(0.25)
        elapsed = time.perf_counter() - changed_at
        verdict = "OK" if stored == cached == devices and elapsed <= 60 else "MISSED"
        print(
            f"[{devices:>7} devices] change -> all plans stored: {all_stored:6.2f} s; "
            f"-> all stored and ETags cached: {elapsed:6.2f} s "
            f"({stored}/{devices} stored, {cached}/{devices} cached) {verdict} (target <= 60 s)"
        )
        if verdict != "OK":
            print(f"worker log: /tmp/{name}.log")
        await conn.close()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        keys = [k async for k in services.redis.scan_iter(match=prefix + "*", count=10000)]
        for start in range(0, len(keys), 10000):
            await services.redis.delete(*keys[start : start + 10000])
        await services.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    for devices in args.devices:
        await run(devices, args)


if __name__ == "__main__":
    asyncio.run(main())
