"""Heartbeat benchmark: one device-edge process vs a bare Starlette endpoint (issue 4).

    .venv/bin/python bench/heartbeat.py [--devices 2000] [--connections 256] [--seconds 10]
                                        [--rounds 3]

On a throwaway database (created and dropped here; DATABASE_URL or localhost:5432 for the
server, REDIS_URL or localhost:6379), it pairs N devices (set-based inserts plus tokens minted
like a claim does), starts one uvicorn process for the edge and one for
`bench/baseline_app.py`, warms both up (every device online, epochs cached in Redis), then
drives each with the same load tool (`bench/load.py`: wrk if installed) and the same request
mix: `POST /v1/device/heartbeat` round-robin over the devices with a realistic body, in
alternating rounds. Prints requests/s of both (and each server's CPU use) per round, the
ratio of the medians (target >= 25%) and a `BENCH_RESULT` line, then checks the database
really recorded the heartbeats.

The edge coalesces concurrent heartbeats into batched statements, so its throughput grows
with the number of requests in flight; `--connections` models how many devices talk to one
process at once (a real fleet keeps far more connections open than the default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import LoadResult, RequestSpec, run_load  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db.migrations import upgrade  # noqa: E402
from core.security.tokens import TokenKind, TokenService  # noqa: E402

JWT_KEYS = '{"bench": "bench-signing-key-0123456789abcdef-0123456789"}'


def dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def throwaway_database(prefix: str) -> AsyncIterator[tuple[str, str]]:
    """A new database on DATABASE_URL's server (localhost:5432 by default), migrated to head;
    dropped on the way out, whatever happened. Yields its name and URL."""
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn(server, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            await asyncio.to_thread(upgrade, url)
            yield name, url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(app: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(argv, cwd=ROOT, env=env)


def metrics_env(env: dict[str, str]) -> dict[str, str]:
    """The edge's environment as `signage` launches it: metrics in multiprocess mode, the
    listener on a free port."""
    return {
        **env,
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-metrics-"),
        "METRICS_EDGE_PORT": str(free_port()),
    }


async def wait_up(base_url: str, path: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base_url} did not come up")


async def pair_devices(conn: asyncpg.Connection, count: int) -> list[uuid.UUID]:
    store = await conn.fetchval(
        "INSERT INTO stores (name, timezone) VALUES ('Bench store', 'Europe/Paris') RETURNING id"
    )
    group = await conn.fetchval(
        "INSERT INTO device_groups (name, policy_json) "
        """VALUES ('Bench group', '{"heartbeat_interval_s": 60}') RETURNING id"""
    )
    rows = await conn.fetch(
        "INSERT INTO devices (store_id, group_id, external_name, status) "
        "SELECT $1, $2, 'bench ' || n, 'pending' FROM generate_series(1, $3) AS n RETURNING id",
        store,
        group,
        count,
    )
    return [row["id"] for row in rows]


def heartbeat_requests(settings: Settings, device_ids: list[uuid.UUID]) -> list[RequestSpec]:
    tokens = TokenService(settings, SystemClock())
    specs = []
    for index, device_id in enumerate(device_ids):
        token, _ = tokens.issue(
            TokenKind.DEVICE_ACCESS, str(device_id), ttl_s=3600, extra={"epoch": 0}
        )
        body = {
            "now_playing": {
                "content_id": str(uuid.UUID(int=index + 1)),
                "content_version": "v1",
                "playlist_id": str(uuid.UUID(int=7)),
                "started_at": "2026-03-02T10:00:00Z",
                "position_ms": 1200,
            },
            "disk_used_bytes": 10_000_000 + index,
            "plan_etag": "sha256-0123456789abcdef0123456789abcdef",
            "counters": {"uptime_s": 3600, "plays": 120, "download_failures": 0},
        }
        specs.append(
            RequestSpec(
                "POST",
                "/v1/device/heartbeat",
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                orjson.dumps(body),
            )
        )
    return specs


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    url: str, pid: int, requests: list[RequestSpec], load: dict[str, Any]
) -> tuple[LoadResult, float]:
    """The load result and the server's CPU use during it (1.0 = one core busy)."""
    before = cpu_seconds(pid)
    result = await asyncio.to_thread(run_load, url, requests, **load)
    return result, (cpu_seconds(pid) - before) / result.seconds


def report(name: str, result: LoadResult, cpu: float) -> None:
    print(
        f"{name:<10} {result.rps:>9.0f} req/s  ({result.requests} requests in "
        f"{result.seconds:.1f} s, {result.failures} failed, server CPU {cpu:.0%}, "
        f"tool={result.tool})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument(
        "--connections",
        type=int,
        default=256,
        help="concurrent keep-alive connections (a fleet keeps thousands open)",
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--tool", choices=["auto", "wrk", "asyncio"], default="auto")
    args = parser.parse_args()

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    async with throwaway_database("hb_bench") as (name, url):
        processes: list[subprocess.Popen[bytes]] = []
        try:
            conn = await asyncpg.connect(dsn(url))
            device_ids = await pair_devices(conn, args.devices)
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "REDIS_URL": redis_url,
                "REDIS_KEY_PREFIX": f"bench:{name}:",
                "SIGNAGE_ENV": "dev",
                "JWT_KEYS": JWT_KEYS,
                "JWT_ACTIVE_KID": "bench",
                "LOG_LEVEL": "WARNING",
            }
            settings = Settings.model_validate({k: v for k, v in env.items() if k.isupper()})
            requests = heartbeat_requests(settings, device_ids)

            edge_port, base_port, bare_port = free_port(), free_port(), free_port()
            # The edge as deployed: metrics on, in multiprocess mode (docs/metrics.md); and the
            # same edge with METRICS_ENABLED=false, to measure what the metrics cost.
            processes.append(
                start_server("device_edge.app:create_app", metrics_env(env), edge_port)
            )
            processes.append(start_server("bench.baseline_app:create_app", env, base_port))
            processes.append(
                start_server(
                    "device_edge.app:create_app", {**env, "METRICS_ENABLED": "false"}, bare_port
                )
            )
            edge_url, base_url = f"http://127.0.0.1:{edge_port}", f"http://127.0.0.1:{base_port}"
            bare_url = f"http://127.0.0.1:{bare_port}"
            await wait_up(edge_url, "/readyz")
            await wait_up(base_url, "/")
            await wait_up(bare_url, "/readyz")

            # Warm-up: every device goes online once (transition rows, epoch cache, prepared
            # statements), so the measured run is the steady state of a fleet.
            async with httpx.AsyncClient(base_url=edge_url) as client:
                for spec in requests:
                    answer = await client.post(
                        spec.path, content=spec.body, headers=dict(spec.headers)
                    )
                    answer.raise_for_status()
            load: dict[str, Any] = {
                "connections": args.connections,
                "duration_s": 2,
                "tool": args.tool,
            }
            await asyncio.to_thread(run_load, base_url, requests, **load)
            await asyncio.to_thread(run_load, edge_url, requests, **load)
            await asyncio.to_thread(run_load, bare_url, requests, **load)

            # Alternate the servers, so all see the same (shared, noisy) machine.
            load["duration_s"] = args.seconds
            base_rps: list[float] = []
            edge_rps: list[float] = []
            bare_rps: list[float] = []
            failures = 0
            for round_no in range(1, args.rounds + 1):
                baseline, baseline_cpu = await measure(base_url, processes[1].pid, requests, load)
                # The two edges swap places every round: whichever runs second writes rows the
                # first one just updated, and that order must not be charged to the metrics.
                if round_no % 2:
                    edge, edge_cpu = await measure(edge_url, processes[0].pid, requests, load)
                    bare, bare_cpu = await measure(bare_url, processes[2].pid, requests, load)
                else:
                    bare, bare_cpu = await measure(bare_url, processes[2].pid, requests, load)
                    edge, edge_cpu = await measure(edge_url, processes[0].pid, requests, load)
                print(f"round {round_no}")
                report("baseline", baseline, baseline_cpu)
                report("edge", edge, edge_cpu)
                report("no metrics", bare, bare_cpu)
                base_rps.append(baseline.rps)
                edge_rps.append(edge.rps)
                bare_rps.append(bare.rps)
                failures += edge.failures + bare.failures
            ratio = statistics.median(edge_rps) / statistics.median(base_rps)
            per_round = ", ".join(f"{e / b:.0%}" for e, b in zip(edge_rps, base_rps, strict=True))
            print(f"ratio      {ratio:.1%} of medians (target >= 25%); per round: {per_round}")
            metrics_ratio = statistics.median(edge_rps) / statistics.median(bare_rps)
            print(f"metrics    edge with metrics / without: {metrics_ratio:.1%} of medians")
            metric = {
                "name": "heartbeat req/s, one edge process",
                "value": round(statistics.median(edge_rps)),
                "unit": "req/s",
                "limit": round(statistics.median(base_rps)),
                "limit_label": "bare Starlette endpoint, same load tool",
                "ratio": round(ratio, 4),
                "ratio_label": "edge / baseline (medians)",
                "target": ">= 25%",
                "passed": ratio >= 0.25,
            }
            cost = {
                "name": "heartbeat req/s, edge with metrics",
                "value": round(statistics.median(edge_rps)),
                "unit": "req/s",
                "limit": round(statistics.median(bare_rps)),
                "limit_label": "the same edge, METRICS_ENABLED=false",
                "ratio": round(metrics_ratio, 4),
                "ratio_label": "with / without metrics (medians)",
                "target": ">= 90%",
                "passed": metrics_ratio >= 0.9,
            }
            print("BENCH_RESULT " + json.dumps({"bench": "heartbeat", "metrics": [metric, cost]}))

            online = await conn.fetchval("SELECT count(*) FROM devices WHERE status = 'online'")
            transitions = await conn.fetchval("SELECT count(*) FROM device_status_transitions")
            print(f"checks     {online}/{len(device_ids)} online, {transitions} transitions")
            if online != len(device_ids) or transitions != len(device_ids) or failures:
                raise SystemExit("the heartbeats were not all recorded exactly once per change")
            await conn.close()
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
