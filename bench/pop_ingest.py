"""Proof-of-play ingest benchmark: HTTP end to end vs PostgreSQL's own idempotent insert.

    .venv/bin/python bench/pop_ingest.py [--events 100000] [--batch 1000] [--concurrency 4]
        [--rounds 3] [--keep]   (--keep: leave the database for EXPLAIN; its URL is printed)

On a fresh database (created and dropped here; the server from DATABASE_URL or
localhost:5432, Redis from REDIS_URL or localhost:6379), the same generated rows go in each
time into emptied tables with the current monthly partitions in place:

1. PostgreSQL alone, two ways, the faster one being the baseline: its own idempotent insert
   by event_id alone (the seeds' rule), i.e. the event ids claimed in
   `proof_of_play_event_keys` (`ON CONFLICT DO NOTHING RETURNING`) and the claimed rows
   inserted, in one statement per batch, from (a) COPY into a temporary table, or (b)
   `unnest(<typed arrays>)`; rows fully prepared in advance (local day included), through
   asyncpg on `concurrency` connections, each batch in its own transaction;
2. end to end: `POST /v1/device/events` to one device-edge process (uvicorn subprocess) with
   `concurrency` requests in flight: token check, the device's ingest quota (Redis INCRBY;
   the limit is set out of reach here), JSON parsing, per-event validation, the check of the
   batch's references against the device's plans (the device is really scheduled, and its
   plan stored, as in production) with the content-duration lookup, id claim + insert +
   aggregate upsert, and COMMIT before each answer.

The methods alternate for `--rounds` rounds (each on emptied tables) and the medians are
compared, so that load drifting on a shared machine does not favour whichever ran first.
It prints both rates in events/s and their ratio (issue 12 target: >= 60%), where the CPU went
(PostgreSQL backends, the edge process, this load generator), and checks that the counts are
exact: every event accepted once, the aggregates equal to the events, a resend changing nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.bootstrap import build_services  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db.engine import create_engine  # noqa: E402
from core.db.migrations import upgrade  # noqa: E402
from core.plans import regenerate  # noqa: E402
from core.proof_of_play.partitions import ensure_partitions  # noqa: E402
from core.security.tokens import TokenKind, TokenService  # noqa: E402

COLUMNS = (
    "event_id, device_time_ts, device_id, store_id, campaign_id, schedule_id, playlist_id, "
    "content_id, content_version, type, local_day, server_received_ts, duration_ms, result, "
    "payload_json"
)


def idempotent_insert(source: str) -> str:
    """PostgreSQL's own insert, idempotent by event_id alone: claim the ids, insert the rows
    whose id was claimed (one statement, as ingestion does)."""
    return f"""
        WITH incoming_rows AS MATERIALIZED ({source}),
        keyed AS (
            INSERT INTO proof_of_play_event_keys (event_id, device_id, device_time_ts)
            SELECT event_id, device_id, device_time_ts FROM incoming_rows
            ON CONFLICT DO NOTHING
            RETURNING event_id
        )
        INSERT INTO proof_of_play_events ({COLUMNS})
        SELECT {COLUMNS} FROM incoming_rows JOIN keyed USING (event_id)
        ON CONFLICT DO NOTHING
    """


UNNEST_INSERT = idempotent_insert(
    f"""SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[],
                         $6::uuid[], $7::uuid[], $8::uuid[], $9::int[], $10::text[],
                         $11::date[], $12::timestamptz[], $13::int[], $14::text[], $15::jsonb[])
       AS r({COLUMNS})"""
)
COPY_INSERT = idempotent_insert(f"SELECT {COLUMNS} FROM incoming")
Record = tuple[Any, ...]


@dataclass
class Fixture:
    device_id: uuid.UUID
    store_id: uuid.UUID
    timezone: str
    content_id: uuid.UUID
    campaign_id: uuid.UUID
    playlist_id: uuid.UUID
    schedule_id: uuid.UUID


@dataclass
class Measured:
    events: int
    seconds: float
    pg_cpu_s: float
    edge_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def per_batch_ms(self, cpu_s: float, batches: int) -> float:
        return 1000 * cpu_s / batches


def dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_pids(admin: asyncpg.Connection, database: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
        database,
    )
    return [r["pid"] for r in rows]


async def measure(
    admin: asyncpg.Connection,
    database: str,
    events: int,
    run: Callable[[], Awaitable[None]],
    edge_pid: int | None = None,
) -> Measured:
    """Wall time and CPU (PostgreSQL backends of `database`, the edge, this process)."""
    pids = await backend_pids(admin, database)
    pg0 = {pid: process_cpu_s(pid) for pid in pids}
    edge0 = process_cpu_s(edge_pid) if edge_pid else 0.0
    client0 = time.process_time()
    started = time.perf_counter()
    await run()
    seconds = time.perf_counter() - started
    client = time.process_time() - client0
    edge = process_cpu_s(edge_pid) - edge0 if edge_pid else 0.0
    pg = sum(process_cpu_s(pid) - pg0[pid] for pid in pids)
    return Measured(events, seconds, pg, edge, client)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def create_fixture(conn: asyncpg.Connection) -> Fixture:
    store = await conn.fetchval(
        "INSERT INTO stores (name, timezone) VALUES ('Bench', 'Europe/Berlin') RETURNING id"
    )
    device = await conn.fetchval(
        "INSERT INTO devices (store_id, status) VALUES ($1, 'online') RETURNING id", store
    )
    content = await conn.fetchval(
        "INSERT INTO content (name, type) VALUES ('clip', 'video') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO content_versions (content_id, version_number, version_hash, storage_key,"
        " url, sha256, bytes, mime, duration_ms)"
        " VALUES ($1, 1, 'h', 'k', 'u', $2, 1, 'video/mp4', 30000)",
        content,
        "0" * 64,
    )
    campaign = await conn.fetchval(
        "INSERT INTO campaigns (name, brand_name, start_date, end_date) "
        "VALUES ('c', 'b', '2020-01-01', '2100-01-01') RETURNING id"
    )
    playlist = await conn.fetchval("INSERT INTO playlists (name) VALUES ('p') RETURNING id")
    await conn.execute(
        "INSERT INTO playlist_items (playlist_id, content_id, order_index) VALUES ($1, $2, 0)",
        playlist,
        content,
    )
    schedule = await conn.fetchval(
        "INSERT INTO schedules (target_type, target_id, playlist_id, campaign_id) "
        "VALUES ('DEVICE', $1, $2, $3) RETURNING id",
        device,
        playlist,
        campaign,
    )
    return Fixture(device, store, "Europe/Berlin", content, campaign, playlist, schedule)


async def store_plan(settings: Settings, device_id: uuid.UUID) -> None:
    """The device's plan, stored as the edge would: what it may report plays of."""
    services = build_services(settings)
    try:
        await regenerate(services, [device_id])
    finally:
        await services.close()


def make_events(f: Fixture, count: int, now: datetime) -> list[dict[str, Any]]:
    """Alternating PLAY_START / PLAY_END, spread over the last days, as a player sends them."""
    events = []
    for i in range(count):
        end = i % 2 == 1
        at = now - timedelta(seconds=30 * (count - i) // 10)
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "type": "PLAY_END" if end else "PLAY_START",
            "device_time": at.isoformat().replace("+00:00", "Z"),
            "playlist_id": str(f.playlist_id),
            "content_id": str(f.content_id),
            "content_version": 1,
            "campaign_id": str(f.campaign_id),
            "schedule_id": str(f.schedule_id),
        }
        if end:
            event["duration_ms"] = 29_000 + i % 2000
            event["result"] = "COMPLETED" if i % 10 else "SKIPPED"
        events.append(event)
    return events


def as_records(f: Fixture, events: list[dict[str, Any]], now: datetime) -> list[Record]:
    """The rows ingestion stores, fully pre-computed (local day included) for the baseline."""
    tz = ZoneInfo(f.timezone)
    rows = []
    for e in events:
        at = datetime.fromisoformat(e["device_time"])
        rows.append(
            (
                uuid.UUID(e["event_id"]),
                at,
                f.device_id,
                f.store_id,
                f.campaign_id,
                f.schedule_id,
                f.playlist_id,
                f.content_id,
                1,
                e["type"],
                at.astimezone(tz).date(),
                now,
                e.get("duration_ms"),
                e.get("result"),
                None,
            )
        )
    return rows


async def reset(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "TRUNCATE proof_of_play_events, proof_of_play_event_keys, proof_of_play_aggregate_daily"
    )
    await conn.execute("VACUUM ANALYZE proof_of_play_events")
    await conn.execute("VACUUM ANALYZE proof_of_play_event_keys")


async def run_batches(
    pool: asyncpg.Pool, batches: list[Any], concurrency: int, method: str
) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def worker() -> None:
        async with pool.acquire() as conn:
            while not queue.empty():
                batch = queue.get_nowait()
                async with conn.transaction():
                    if method == "copy":
                        await conn.execute("TRUNCATE incoming")
                        await conn.copy_records_to_table("incoming", records=batch)
                        await conn.execute(COPY_INSERT)
                    else:
                        await conn.execute(UNNEST_INSERT, *batch)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def temp_table(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"CREATE TEMP TABLE incoming AS SELECT {COLUMNS} FROM proof_of_play_events WITH NO DATA"
    )


async def post_all(
    base_url: str, token: str, bodies: list[bytes], concurrency: int, totals: dict[str, int]
) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                response = await client.post(
                    "/v1/device/events", content=queue.get_nowait(), headers=headers
                )
                response.raise_for_status()
                answer = response.json()
                for key in ("accepted", "duplicates", "rejected"):
                    totals[key] = totals.get(key, 0) + answer[key]

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def start_edge(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    profile = os.environ.get("BENCH_PROFILE_EDGE")  # a path: cProfile the edge into it
    argv = [
        sys.executable,
        *(["-m", "cProfile", "-o", profile] if profile else []),
        "-m",
        "uvicorn",
        "--factory",
        "device_edge.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "on",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(argv, cwd=ROOT, env=env)


async def wait_ready(base_url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the edge did not become ready")


async def check_exact(conn: asyncpg.Connection, events: int, plays: int) -> None:
    stored = await conn.fetchval("SELECT count(*) FROM proof_of_play_events")
    row = await conn.fetchrow(
        "SELECT coalesce(sum(plays_count), 0) AS plays, coalesce(sum(starts_count), 0) AS starts"
        " FROM proof_of_play_aggregate_daily"
    )
    if stored != events or row["plays"] != plays or row["plays"] + row["starts"] != events:
        raise SystemExit(f"counts are off: stored={stored} aggregates={dict(row)}")


def cpu_line(label: str, m: Measured, batches: int) -> str:
    parts = [f"PostgreSQL {m.per_batch_ms(m.pg_cpu_s, batches):5.1f} ms"]
    if m.edge_cpu_s:
        parts.append(f"edge process {m.per_batch_ms(m.edge_cpu_s, batches):5.1f} ms")
    parts.append(f"load generator {m.per_batch_ms(m.client_cpu_s, batches):5.1f} ms")
    return f"  CPU per batch, {label}: " + ", ".join(parts)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternate the methods this many times (median)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the database (and its last HTTP run's rows) for EXPLAIN; printed at the end",
    )
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"pop_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn(server, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    edge: subprocess.Popen[bytes] | None = None
    pool: asyncpg.Pool | None = None
    try:
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(url)
        async with engine.begin() as sa_conn:
            await ensure_partitions(sa_conn, SystemClock(), retention_days=400)
        await engine.dispose()

        conn = await asyncpg.connect(dsn(url))
        fixture = await create_fixture(conn)
        now = datetime.now(UTC)
        events = make_events(fixture, args.events, now)
        chunks = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
        batches = len(chunks)
        records = [as_records(fixture, chunk, now) for chunk in chunks]
        columns = [[list(col) for col in zip(*batch, strict=True)] for batch in records]
        bodies = [orjson.dumps({"events": chunk}) for chunk in chunks]
        plays = sum(1 for e in events if e["type"] == "PLAY_END")

        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"bench:{name}:",
            "SIGNAGE_ENV": "dev",
            "LOG_LEVEL": "WARNING",
            # The quota is checked (one INCRBY per batch) but set out of this load's reach.
            "POP_DEVICE_EVENTS_PER_MINUTE": str(10**12),
        }
        settings = Settings.model_validate({k: v for k, v in env.items() if k.isupper()})
        await store_plan(settings, fixture.device_id)
        port = free_port()
        edge = start_edge(env, port)
        base_url = f"http://127.0.0.1:{port}"
        await wait_ready(base_url)
        token, _ = TokenService(settings, SystemClock()).issue(
            TokenKind.DEVICE_ACCESS, str(fixture.device_id), ttl_s=3600, extra={"epoch": 0}
        )
        pool = await asyncpg.create_pool(
            dsn(url), min_size=args.concurrency, max_size=args.concurrency, init=temp_table
        )
        # Warm-up, with every connection the measured runs use (so their backends are metered).
        warm = slice(0, 2 * args.concurrency)
        await run_batches(pool, records[warm], args.concurrency, "copy")
        await run_batches(pool, columns[warm], args.concurrency, "unnest")
        await reset(conn)
        await post_all(base_url, token, bodies[warm], args.concurrency, {})
        print(f"{args.events} events in batches of {args.batch}, {args.concurrency} in flight")

        results: dict[str, list[Measured]] = {"copy": [], "unnest": [], "http": []}
        for _ in range(args.rounds):  # alternate, so drifting machine load hits all alike
            for method, data in (("copy", records), ("unnest", columns)):
                await reset(conn)
                results[method].append(
                    await measure(
                        admin,
                        name,
                        args.events,
                        lambda m=method, d=data: run_batches(pool, d, args.concurrency, m),
                    )
                )
                if await conn.fetchval("SELECT count(*) FROM proof_of_play_events") != args.events:
                    raise SystemExit(f"{method}: not every row was stored")
            await reset(conn)
            totals: dict[str, int] = {}
            results["http"].append(
                await measure(
                    admin,
                    name,
                    args.events,
                    lambda t=totals: post_all(base_url, token, bodies, args.concurrency, t),
                    edge.pid,
                )
            )
            if totals.get("accepted") != args.events:
                raise SystemExit(f"accepted {totals} of {args.events}")
            await check_exact(conn, args.events, plays)

        again: dict[str, int] = {}
        resend = await measure(
            admin,
            name,
            args.events,
            lambda: post_all(base_url, token, bodies, args.concurrency, again),
            edge.pid,
        )
        if again.get("duplicates") != args.events:
            raise SystemExit(f"resend: {again}")
        await check_exact(conn, args.events, plays)
        await conn.close()

        medians = {k: sorted(v, key=lambda m: m.rate)[len(v) // 2] for k, v in results.items()}
        raw = max(medians["copy"], medians["unnest"], key=lambda m: m.rate)
        http = medians["http"]
        for key, label in (("copy", "COPY + INSERT"), ("unnest", "INSERT unnest")):
            rates = ", ".join(f"{m.rate:.0f}" for m in results[key])
            print(f"  PostgreSQL {label}: {medians[key].rate:9.0f} events/s  (rounds: {rates})")
        rates = ", ".join(f"{m.rate:.0f}" for m in results["http"])
        print(f"  HTTP end to end:          {http.rate:9.0f} events/s  (rounds: {rates})")
        print(f"PostgreSQL idempotent insert (faster method): {raw.rate:9.0f} events/s")
        print(f"HTTP end to end, one edge process:            {http.rate:9.0f} events/s")
        print(f"ratio: {http.rate / raw.rate:.0%} (target >= 60%)")
        print(f"HTTP resend of every batch (all duplicates):  {resend.rate:9.0f} events/s")
        print(cpu_line("baseline", raw, batches))
        print(cpu_line("HTTP", http, batches))
        print("counts exact: each event stored once, aggregates equal the events, resend no-op")
    finally:
        if pool is not None:
            await pool.close()
        if edge is not None:
            edge.send_signal(signal.SIGINT)  # lets a profiled edge write its profile
            edge.wait(timeout=20)
        if args.keep:
            print(f"kept database: {url}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await drop_redis_keys(redis_url, f"bench:{name}:")


async def drop_redis_keys(redis_url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
