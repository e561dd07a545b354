"""GraphQL per-request overhead: an authenticated `query Me { me { id } }` over real HTTP to
one admin-API process, against the bare Starlette baseline answering a small JSON document
(issue 16, item 2).

    .venv/bin/python bench/graphql_overhead.py [--requests 2000] [--rounds 3]

On a throwaway database (created and dropped here; DATABASE_URL or localhost:5432, REDIS_URL
or localhost:6379) it creates one admin, starts uvicorn for `graphql_api.app:create_app` and
for `bench/baseline_app.py` (same flags as the edge benches), warms both up, then sends the
requests one after the other on one keep-alive connection, alternating rounds between the
two servers. Prints the median latency of each, their ratio and a `BENCH_RESULT` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.heartbeat import (  # noqa: E402
    JWT_KEYS,
    free_port,
    start_server,
    throwaway_database,
    wait_up,
)
from core.bootstrap import build_services  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db.enums import Role  # noqa: E402
from core.identity.users import insert_user, prepare_new_user  # noqa: E402
from core.kernel.actor import Actor  # noqa: E402
from core.security.tokens import TokenKind, TokenService  # noqa: E402

QUERY = {"query": "query Me { me { id } }"}
TARGET_MS = 2.0


async def create_admin(settings: Settings) -> str:
    """An admin created as `signage create-admin` creates one (core's user service), and a
    console access token for it, minted like a login does."""
    clock = SystemClock()
    new_user = await prepare_new_user("bench@example.com", "bench-password-123")
    services = build_services(settings, clock=clock)
    try:
        async with services.engine.begin() as conn:
            row = await insert_user(
                conn, Actor.system(), new_user, role=Role.ADMIN, now=clock.now()
            )
    finally:
        await services.close()
    assert row is not None, "a fresh database has no users"
    user_id = row.id
    token, _ = TokenService(settings, SystemClock()).issue(
        TokenKind.CONSOLE_ACCESS,
        str(user_id),
        ttl_s=3600,
        extra={"role": Role.ADMIN.value, "epoch": 0},
    )
    return token


async def latencies(url: str, path: str, headers: dict[str, str], count: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        took: list[float] = []
        for _ in range(count):
            started = time.perf_counter()
            response = await client.post(path, json=QUERY, headers=headers)
            took.append(time.perf_counter() - started)
            response.raise_for_status()
        return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    async with throwaway_database("gql_bench") as (name, url):
        processes: list[subprocess.Popen[bytes]] = []
        try:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "REDIS_URL": redis_url,
                "REDIS_KEY_PREFIX": f"bench:{name}:",
                "SIGNAGE_ENV": "production",
                "JWT_KEYS": JWT_KEYS,
                "JWT_ACTIVE_KID": "bench",
                "STORAGE_SIGNING_SECRET": "bench-storage-signing-secret-0123456789abcdef",
                "LOG_LEVEL": "WARNING",
                "METRICS_API_PORT": str(free_port()),
            }
            settings = Settings.model_validate({k: v for k, v in env.items() if k.isupper()})
            token = await create_admin(settings)
            api_port, base_port = free_port(), free_port()
            processes.append(start_server("graphql_api.app:create_app", env, api_port))
            processes.append(start_server("bench.baseline_app:create_app", env, base_port))
            api_url, base_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{base_port}"
            await wait_up(api_url, "/healthz")
            await wait_up(base_url, "/")
            auth = {"Authorization": f"Bearer {token}"}
            probe = await latencies(api_url, "/graphql", auth, 1)
            assert probe, "no answer"
            await latencies(api_url, "/graphql", auth, 200)  # warm-up
            await latencies(base_url, "/graphql", {}, 200)

            api_ms: list[float] = []
            base_ms: list[float] = []
            for round_no in range(1, args.rounds + 1):
                base = await latencies(base_url, "/graphql", {}, args.requests)
                api = await latencies(api_url, "/graphql", auth, args.requests)
                base_ms.append(statistics.median(base) * 1000)
                api_ms.append(statistics.median(api) * 1000)
                print(
                    f"round {round_no}   me {api_ms[-1]:.2f} ms   plain JSON {base_ms[-1]:.2f} ms"
                    f"   (median of {args.requests} sequential requests each)"
                )
            me = statistics.median(api_ms)
            plain = statistics.median(base_ms)
            print(f"result     me {me:.2f} ms, plain JSON {plain:.2f} ms, ratio {plain / me:.1%}")
            metric = {
                "name": "authenticated { me { id } } over HTTP, median latency",
                "value": round(me, 3),
                "unit": "ms",
                "limit": round(plain, 3),
                "limit_label": "bare Starlette JSON endpoint, same client",
                "ratio": round(plain / me, 4),
                "ratio_label": "plain JSON / GraphQL",
                "target": f"<= {TARGET_MS} ms",
                "passed": me <= TARGET_MS,
            }
            print("BENCH_RESULT " + json.dumps({"bench": "graphql_overhead", "metrics": [metric]}))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
