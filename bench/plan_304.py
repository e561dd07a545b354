"""The plan 304 path: one device-edge process vs a bare Starlette endpoint (issue 5).

    .venv/bin/python bench/plan_304.py [--devices 2000] [--connections 64] [--seconds 10]

On a throwaway database (created and dropped here; DATABASE_URL or localhost:5432 for the
server, REDIS_URL or localhost:6379): one group of N devices with a schedule and a default
playlist (the seed of bench/plan_regen.py). One uvicorn process serves the edge and one
`bench/baseline_app.py`. Each device fetches its plan once (generated on demand, which also
caches its token epoch and plan ETag in Redis); then both servers get the same load, from the
same tool (`bench/load.py`), with the same requests: `GET /v1/device/plan` with the device's
token and `If-None-Match: "<its current ETag>"`, round-robin over the devices.

Prints requests/s of both and the ratio (target >= 40%), checks that the edge answered 304
every time, and reads pg_stat_database to show the 304 path ran no PostgreSQL transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.heartbeat import (  # noqa: E402
    JWT_KEYS,
    cpu_seconds,
    dsn,
    free_port,
    metrics_env,
    start_server,
    throwaway_database,
    wait_up,
)
from bench.load import LoadResult, RequestSpec, run_load  # noqa: E402
from bench.plan_regen import seed  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.security.tokens import TokenKind, TokenService  # noqa: E402

TARGET = 0.40


@dataclass(frozen=True)
class Measured:
    result: LoadResult
    cpu_s: float  # the server process's CPU time during the run

    @property
    def rps(self) -> float:
        return self.result.rps

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(self.result.requests, 1) * 1e6


async def measure(
    url: str, pid: int, requests: list[RequestSpec], load: dict[str, Any]
) -> Measured:
    before = cpu_seconds(pid)
    result = await asyncio.to_thread(run_load, url, requests, **load)
    return Measured(result, cpu_seconds(pid) - before)


def report(name: str, measured: Measured) -> None:
    result = measured.result
    print(
        f"{name:<10} {result.rps:>9.0f} req/s  ({result.requests} requests in "
        f"{result.seconds:.1f} s, {result.failures} failed, "
        f"{measured.cpu_us_per_request:.0f} us server CPU/request, tool={result.tool})"
    )


async def transactions(conn: asyncpg.Connection, database: str) -> int:
    """Committed + rolled back transactions of the database. Idle backends flush their
    statistics only after PGSTAT_IDLE_INTERVAL (10 s), hence the wait."""
    await asyncio.sleep(11)
    value = await conn.fetchval(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", database
    )
    return int(value)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tool", choices=["auto", "wrk", "asyncio"], default="auto")
    args = parser.parse_args()

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    async with throwaway_database("plan304_bench") as (name, url):
        processes: list[subprocess.Popen[bytes]] = []
        try:
            conn = await asyncpg.connect(dsn(url))
            await seed(conn, args.devices)
            device_ids = [row["id"] for row in await conn.fetch("SELECT id FROM devices")]
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
            tokens = TokenService(settings, SystemClock())
            auth = {
                device_id: "Bearer "
                + tokens.issue(
                    TokenKind.DEVICE_ACCESS, str(device_id), ttl_s=3600, extra={"epoch": 0}
                )[0]
                for device_id in device_ids
            }

            edge_port, base_port, bare_port = free_port(), free_port(), free_port()
            # The edge as deployed (metrics on, multiprocess mode), and without metrics.
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

            # Every device fetches its plan once: generated on demand, ETag and epoch cached.
            requests: list[RequestSpec] = []
            async with httpx.AsyncClient(base_url=edge_url, timeout=30) as client:
                for device_id in device_ids:
                    answer = await client.get(
                        "/v1/device/plan", headers={"Authorization": auth[device_id]}
                    )
                    answer.raise_for_status()
                    headers = {
                        "Authorization": auth[device_id],
                        "If-None-Match": answer.headers["etag"],
                    }
                    requests.append(RequestSpec("GET", "/v1/device/plan", headers))
                probe = await client.get(requests[0].path, headers=dict(requests[0].headers))
                assert probe.status_code == 304 and probe.content == b"", probe.status_code
            plans = await conn.fetchval("SELECT count(*) FROM playout_plans")
            print(f"setup      {plans}/{len(device_ids)} plans generated on demand by the edge")

            load: dict[str, Any] = {
                "connections": args.connections,
                "duration_s": 2,
                "tool": args.tool,
            }
            await asyncio.to_thread(run_load, base_url, requests, **load)  # warm-up
            await asyncio.to_thread(run_load, edge_url, requests, **load)
            await asyncio.to_thread(run_load, bare_url, requests, **load)

            # Alternate the two servers for several rounds and compare medians: on a shared
            # machine the load from other processes drifts, and back-to-back runs would
            # attribute that drift to one side.
            load["duration_s"] = args.seconds
            baselines: list[Measured] = []
            edges: list[Measured] = []
            bares: list[Measured] = []
            before = await transactions(conn, name)
            for _ in range(args.rounds):
                baselines.append(await measure(base_url, processes[1].pid, requests, load))
                # The two edges swap places every round, so order is not charged to the metrics.
                if len(edges) % 2 == 0:
                    edges.append(await measure(edge_url, processes[0].pid, requests, load))
                    bares.append(await measure(bare_url, processes[2].pid, requests, load))
                else:
                    bares.append(await measure(bare_url, processes[2].pid, requests, load))
                    edges.append(await measure(edge_url, processes[0].pid, requests, load))
            after = await transactions(conn, name)
            bare = sorted(bares, key=lambda r: r.rps)[len(bares) // 2]
            baseline = sorted(baselines, key=lambda r: r.rps)[len(baselines) // 2]
            edge = sorted(edges, key=lambda r: r.rps)[len(edges) // 2]
            report("baseline", baseline)
            report("edge 304", edge)
            rounds = ", ".join(
                f"{e.rps / b.rps:.0%}" for b, e in zip(baselines, edges, strict=True)
            )
            print(
                f"ratio      {edge.rps / baseline.rps:.1%} of medians (target >= {TARGET:.0%}); "
                f"per round: {rounds}"
            )
            # Load-independent view: on a shared machine the servers do not get equal CPU, but
            # the CPU each one spends per request does not depend on that.
            cpu_ratio = baseline.cpu_us_per_request / edge.cpu_us_per_request
            print(f"cpu ratio  {cpu_ratio:.1%} (baseline CPU per request / edge CPU per request)")
            report("no metrics", bare)
            cost = bare.cpu_us_per_request / edge.cpu_us_per_request
            print(
                f"metrics    edge 304 with metrics / without: {edge.rps / bare.rps:.1%} of "
                f"medians; CPU per request {cost:.1%}"
            )
            # `before` itself is one transaction of this script; the two edges added the rest.
            served = sum(e.result.requests for e in [*edges, *bares])
            print(f"postgres   {after - before - 1} transactions during {served} 304s")
            if any(e.result.failures for e in [*edges, *bares]):
                raise SystemExit("some requests failed")
            await conn.close()
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)
            redis = aioredis.Redis.from_url(redis_url)
            keys = [k async for k in redis.scan_iter(match=f"bench:{name}:*", count=10000)]
            for start in range(0, len(keys), 10000):
                await redis.delete(*keys[start : start + 10000])
            await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
