"""The fleet simulation against a whole `signage up` stack, end to end (issue 8).

    .venv/bin/python bench/simulate_stack.py [--devices 5000] [--duration 600] [-- simulator args]

On a throwaway database (created and dropped here; the server from DATABASE_URL or
localhost:5432, Redis from REDIS_URL or localhost:6379 with a key prefix of its own), it starts
the stack exactly as `make run` does (`signage up`: migrations, the demo seed with its admin
login, the admin API, the device edge, the Dramatiq worker and the scheduler) on free ports,
waits until both edges are ready, runs `python -m simulator` against it, and stops the stack
with SIGINT as an operator's Ctrl-C would. The stack's own output goes to a log file.

The simulator's verdict is the figure: zero errors and proof-of-play totals that match. The
last line is `BENCH_RESULT {json}` (bench/README.md) with the verdict and the per-endpoint
latencies; there is no same-machine "limit" for these, they are reported as measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def psql_admin(server: str, statement: str) -> None:
    """CREATE/DROP DATABASE through asyncpg in a child interpreter (keeps this one sync)."""
    code = (
        "import asyncio, asyncpg, sys\n"
        "async def run():\n"
        "    c = await asyncpg.connect(sys.argv[1])\n"
        "    await c.execute(sys.argv[2])\n"
        "    await c.close()\n"
        "asyncio.run(run())\n"
    )
    dsn = make_url(server).set(drivername="postgresql", database="postgres")
    argv = [sys.executable, "-c", code, dsn.render_as_string(hide_password=False), statement]
    subprocess.run(argv, check=True, timeout=120)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def clean_redis(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])
    finally:
        client.close()


def metrics(summary: dict[str, Any], devices: int, duration: float) -> list[dict[str, Any]]:
    run = f"{devices:,} devices x {duration:.0f} s"
    out: list[dict[str, Any]] = [
        {
            "name": f"fleet simulation ({run}): errors",
            "value": summary["errors"],
            "unit": "errors",
            "target": "0, totals match",
            "passed": bool(summary["ok"]),
            "ratio_label": f"{summary['requests']:,} requests; proof-of-play totals "
            + ("match" if summary["totals_match"] else "DO NOT match"),
        }
    ]
    for name in ("heartbeat", "plan", "events"):
        endpoint = summary["endpoints"].get(name)
        if endpoint:
            out.append(
                {
                    "name": f"fleet simulation ({run}): {name} p99 latency "
                    f"(p50 {endpoint['p50_ms']:.0f} ms, {endpoint['requests']:,} requests)",
                    "value": endpoint["p99_ms"],
                    "unit": "ms",
                }
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--log", default=None, help="the stack's output (default: a temp file)")
    args, extra = parser.parse_known_args()
    extra = extra[1:] if extra[:1] == ["--"] else extra

    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"sim_stack_{uuid.uuid4().hex[:8]}"
    prefix = f"bench:{name}:"
    api_port, edge_port = free_port(), free_port()
    api_url, edge_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{edge_port}"
    work = Path(tempfile.mkdtemp(prefix=f"{name}_"))
    log_path = Path(args.log) if args.log else work / "stack.log"
    env = {
        **os.environ,
        "DATABASE_URL": make_url(server).set(database=name).render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "SIGNAGE_ENV": "dev",
        "SIGNAGE_DATA_DIR": str(work / "data"),
        "API_PORT": str(api_port),
        "EDGE_PORT": str(edge_port),
        "PUBLIC_API_URL": api_url,
        "PUBLIC_EDGE_URL": edge_url,
    }
    psql_admin(server, f'CREATE DATABASE "{name}"')
    stack: subprocess.Popen[bytes] | None = None
    try:
        with log_path.open("wb") as log:
            stack = subprocess.Popen(
                [sys.executable, "-m", "ops.cli.main", "up"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not (ready(f"{api_url}/readyz") and ready(f"{edge_url}/readyz")):
                if stack.poll() is not None or time.monotonic() > deadline:
                    print(f"the stack did not come up; see {log_path}")
                    return 1
                time.sleep(0.5)
            print(f"stack up: admin API {api_url}, device edge {edge_url} (log {log_path})")
            result_path = work / "simulation.json"
            argv = [sys.executable, "-m", "simulator", "--devices", str(args.devices)]
            argv += ["--duration", str(args.duration), "--api-url", api_url]
            argv += ["--edge-url", edge_url, "--result-json", str(result_path), *extra]
            code = subprocess.run(argv, cwd=ROOT, check=False).returncode
        summary = json.loads(result_path.read_text()) if result_path.exists() else None
        if summary is None:
            print("the simulator wrote no summary")
            return 1
        body = {"bench": "simulate_stack", "metrics": metrics(summary, args.devices, args.duration)}
        print("BENCH_RESULT " + json.dumps(body))
        return code
    finally:
        if stack is not None and stack.poll() is None:
            os.killpg(stack.pid, signal.SIGINT)  # `signage up` stops its children in order
            try:
                stack.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
                stack.wait(timeout=10)
        psql_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        clean_redis(redis_url, prefix)
        shutil.rmtree(work / "data", ignore_errors=True)  # keep only the stack's log


if __name__ == "__main__":
    raise SystemExit(main())
