"""Report benchmark: proof-of-play report queries and the CSV export over a year of
aggregates for 5,000 devices, against PostgreSQL running the same SQL itself (issues 6, 8).

    .venv/bin/python bench/report_queries.py [--stores 500] [--devices 5000] [--days 365]
                                             [--contents-per-store 12] [--repeats 10]

On a throwaway database (created, migrated and dropped here; the server from DATABASE_URL or
localhost:5432, Redis from REDIS_URL or localhost:6379) it generates with `generate_series`
(see bench/report_dataset.py): stores, 5,000 devices spread over them, campaigns, content,
and a year of `proof_of_play_aggregate_daily` in which every store plays
`--contents-per-store` items a day (500 x 365 x 12 = 2.19 M rows: what a 5,000-screen
fleet's year compresses to).

Then, against one admin-API process (uvicorn subprocess, logged in through GraphQL):
1. Report queries: each typical `proofOfPlayReport` is timed end to end over HTTP; the limit
   is PostgreSQL answering the same two statements (grouped rows + totals) through asyncpg.
   The two alternate, `--repeats` times after a warm-up, and the medians are compared.
   Ratio = PostgreSQL time / API time.
2. CSV export of the whole year grouped by day, store, content and campaign (every row):
   time to the last byte over HTTP against `COPY (same query) TO STDOUT CSV`, and the peak
   memory of the admin-API process while it streams, measured on that process (see
   bench/report_export.py), compared with the size of the CSV. The CSV's totals are checked
   against PostgreSQL's for the same filter.

The last line is `BENCH_RESULT {json}` (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report_dataset import ReportCase, cases, seed  # noqa: E402
from bench.report_export import ExportFigures, measure_export, medians_s  # noqa: E402
from core.db.migrations import upgrade  # noqa: E402
from core.identity.passwords import hash_password  # noqa: E402

ADMIN_EMAIL = "bench-admin@example.test"
ADMIN_PASSWORD = "bench-admin-password-0123456789"
JWT_KEYS = '{"bench": "bench-signing-key-0123456789abcdef-0123456789"}'


def dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "uvicorn", "--factory", "graphql_api.app:create_app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    argv += ["--no-access-log", "--lifespan", "on"]
    return subprocess.Popen(argv, cwd=ROOT, env=env)


async def wait_up(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the admin API did not come up")


async def login(client: httpx.AsyncClient) -> str:
    query = (
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) {"
        " __typename ... on AuthPayload { accessToken } } }"
    )
    answer = await client.post(
        "/graphql", json={"query": query, "variables": {"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD}}
    )
    result = answer.json()["data"]["login"]
    if result["__typename"] != "AuthPayload":
        raise RuntimeError(f"login failed: {result}")
    return str(result["accessToken"])


async def graphql_floor_s(client: httpx.AsyncClient, repeats: int) -> float:
    """The fixed cost of any authenticated GraphQL request, to read the report timings by."""

    async def me() -> None:
        (await client.post("/graphql", json={"query": "{ me { id } }"})).raise_for_status()

    [floor] = await medians_s([me], repeats)
    return floor


async def measure_case(
    client: httpx.AsyncClient, conn: asyncpg.Connection, case: ReportCase, repeats: int
) -> dict[str, Any]:
    query, variables = case.graphql()
    grouped, totals, params = case.sql()
    api_answer: dict[str, Any] = {}
    pg_answer: dict[str, Any] = {}

    async def over_http() -> None:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{case.name}: HTTP {response.status_code} {body}")
        api_answer.update(body["data"]["proofOfPlayReport"])

    async def in_postgres() -> None:
        pg_answer["rows"] = await conn.fetch(grouped, *params)
        pg_answer["totals"] = await conn.fetchrow(totals, *params)

    api_s, pg_s = await medians_s([over_http, in_postgres], repeats)
    rows = len(pg_answer["rows"])
    if len(api_answer["rows"]) != rows or (
        int(api_answer["totals"]["plays"]) != pg_answer["totals"]["plays"]
    ):
        raise RuntimeError(f"{case.name}: the API and PostgreSQL disagree")
    print(
        f"  {case.name:<38} {rows:>6} rows  API {api_s * 1000:8.1f} ms  "
        f"PostgreSQL {pg_s * 1000:8.1f} ms  ratio {pg_s / api_s:6.1%}"
    )
    return {"case": case.name, "rows": rows, "api_s": api_s, "pg_s": pg_s}


def metric(
    name: str,
    value: float,
    unit: str,
    limit: float,
    limit_label: str,
    ratio: float,
    ratio_label: str,
    target: str | None = None,
    passed: bool | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "limit": round(limit, 3),
        "limit_label": limit_label,
        "ratio": round(ratio, 4),
        "ratio_label": ratio_label,
        "target": target,
        "passed": passed,
    }


def metrics(case_rows: list[dict[str, Any]], export: ExportFigures) -> list[dict[str, Any]]:
    out = [
        metric(
            f"report query: {row['case']} ({row['rows']} rows)",
            row["api_s"] * 1000,
            "ms",
            row["pg_s"] * 1000,
            "PostgreSQL alone, same statements",
            row["pg_s"] / row["api_s"],
            "PostgreSQL time / API time",
        )
        for row in case_rows
    ]
    mib = export.bytes / 2**20
    out.append(
        metric(
            f"CSV export, whole year ({export.rows:,} rows, {mib:.0f} MiB)",
            export.api_s,
            "s",
            export.pg_s,
            "COPY (same query) TO STDOUT CSV",
            export.pg_s / export.api_s,
            "COPY time / HTTP export time",
            target="totals equal the report's",
            passed=export.totals_match,
        )
    )
    out.append(
        metric(
            "CSV export: peak memory growth of the admin-API process",
            export.peak_growth / 2**20,
            "MiB",
            mib,
            "size of the CSV it streamed",
            export.peak_growth / max(export.bytes, 1),
            "peak RSS growth / CSV size",
            target="flat: < 10% of the CSV",
            passed=export.peak_growth < 0.1 * export.bytes,
        )
    )
    return out


async def run(args: argparse.Namespace, conn: asyncpg.Connection, url: str, name: str) -> None:
    first_day = datetime.now(UTC).date() - timedelta(days=args.days)
    started = time.perf_counter()
    aggregate_rows = await seed(conn, args, first_day)
    print(
        f"seeded {aggregate_rows:,} aggregate rows ({args.stores} stores, {args.devices} "
        f"devices, {args.days} days) in {time.perf_counter() - started:.1f} s"
    )
    await conn.execute(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'ADMIN')",
        ADMIN_EMAIL,
        hash_password(ADMIN_PASSWORD),
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "REDIS_KEY_PREFIX": f"bench:{name}:",
        "SIGNAGE_ENV": "dev",
        "JWT_KEYS": JWT_KEYS,
        "JWT_ACTIVE_KID": "bench",
        "LOG_LEVEL": "WARNING",
    }
    port = free_port()
    api = start_api(env, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            await wait_up(client)
            token = await login(client)
            client.headers["Authorization"] = f"Bearer {token}"
            floor = await graphql_floor_s(client, args.repeats)
            print(
                f"report queries (median of {args.repeats}, after a warm-up; an authenticated "
                f"`{{ me {{ id }} }}` takes {floor * 1000:.1f} ms):"
            )
            case_rows = [
                await measure_case(client, conn, case, args.repeats)
                for case in cases(first_day, args.days)
            ]
            last = first_day + timedelta(days=args.days - 1)
            everything = ReportCase(
                "export", ("DAY", "STORE", "CONTENT", "CAMPAIGN"), start=first_day, end=last
            )
            export = await measure_export(
                client, conn, api.pid, everything, token, args.csv_repeats
            )
    finally:
        api.terminate()
        api.wait(timeout=20)
    print(
        f"CSV export: {export.rows:,} rows, {export.bytes / 2**20:.1f} MiB in {export.api_s:.2f} s "
        f"over HTTP ({export.rows / export.api_s:,.0f} rows/s); COPY {export.pg_s:.2f} s; "
        f"ratio {export.pg_s / export.api_s:.1%}"
    )
    print(
        f"CSV export memory: admin-API RSS {export.rss_before / 2**20:.0f} MiB before, peak "
        f"growth {export.peak_growth / 2**20:.1f} MiB while streaming "
        f"{export.bytes / 2**20:.0f} MiB; CSV totals equal PostgreSQL's: {export.totals_match}"
    )
    print(
        "BENCH_RESULT "
        + json.dumps({"bench": "report_queries", "metrics": metrics(case_rows, export)})
    )
    if not export.totals_match:
        raise SystemExit("the CSV totals differ from the report's")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stores", type=int, default=500)
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--contents-per-store", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--csv-repeats", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"report_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn(server, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(upgrade, url)
        conn = await asyncpg.connect(dsn(url))
        try:
            await run(args, conn, url, name)
        finally:
            await conn.close()
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
