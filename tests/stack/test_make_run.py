"""`make run`'s stack (`signage up`) as a subprocess on the embedded defaults.

It must answer /readyz on both ports, stop cleanly on SIGINT leaving no process behind, and
come back with its data: the demo admin still logs in and seeding did not duplicate anything.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from sqlalchemy import func, select

from core.db.engine import create_engine
from core.db.tables import content_versions, stores, users
from core.identity.passwords import verify_password
from ops.demo_seed import DEMO_ADMIN_EMAIL, DEV_DEMO_ADMIN_PASSWORD
from tests.stack.conftest import in_thread
from tests.stack.support import clean_env, free_port

pytestmark = pytest.mark.slow

READY_TIMEOUT_S = 180.0
METRICS_KINDS = ("API", "EDGE", "WORKER", "SCHEDULER")
STOP_TIMEOUT_S = 90.0


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    log: Path
    api_port: int
    edge_port: int
    pids: set[int] = field(default_factory=set)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def http_get(url: str, accept: str = "application/json") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def graphql(port: int, query: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status), json.loads(response.read())


def start(data_dir: Path, cwd: Path, log: Path, settings: dict[str, str] | None = None) -> Stack:
    api_port, edge_port = free_port(), free_port()
    env = clean_env(
        {
            "SIGNAGE_ENV": "dev",
            "PYTHONUNBUFFERED": "1",
            "SIGNAGE_DATA_DIR": str(data_dir),
            "API_PORT": str(api_port),
            "EDGE_PORT": str(edge_port),
            **{f"METRICS_{kind}_PORT": str(free_port()) for kind in METRICS_KINDS},
            **(settings or {}),
        }
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "up"],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Stack(process, log, api_port, edge_port)


def wait_ready(stack: Stack) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert stack.process.poll() is None, f"signage up exited early:\n{stack.output()}"
        api, _ = http_get(f"http://127.0.0.1:{stack.api_port}/readyz")
        edge, _ = http_get(f"http://127.0.0.1:{stack.edge_port}/readyz")
        if api == edge == 200:
            return
        time.sleep(0.5)
    pytest.fail(f"/readyz not 200 on both ports in {READY_TIMEOUT_S:.0f}s:\n{stack.output()}")


def record_pids(stack: Stack, data_dir: Path, *, embedded: bool = True) -> None:
    """Every process of the stack: the four children, their forks and both servers."""
    parent = psutil.Process(stack.process.pid)
    stack.pids = {child.pid for child in parent.children(recursive=True)}
    if embedded:
        stack.pids.add(int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0]))
        stack.pids.add(int((data_dir / "redis" / "redis.pid").read_text().strip()))
    started = {int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", stack.output())}
    assert len(started) == 4 and started <= stack.pids


def stop_with_sigint(stack: Stack) -> int:
    stack.process.send_signal(signal.SIGINT)
    return stack.process.wait(timeout=STOP_TIMEOUT_S)


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.add(pid)
        except psutil.NoSuchProcess:
            pass
    return living


def printed_url(stack: Stack, service: str) -> str:
    match = re.search(rf"signage: {service} +(\S+)", stack.output())
    assert match, stack.output()
    return match.group(1)


def wait_for_worker_round_trip(redis_url: str, prefix: str, stack: Stack) -> None:
    """The scheduler enqueues the self-check at start; the worker writes this key when it runs."""
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while client.get(f"{prefix}worker:last_self_check") is None:
            assert time.monotonic() < deadline, f"the worker never ran a job:\n{stack.output()}"
            time.sleep(0.5)
    finally:
        client.close()


async def seeded_counts(url: str) -> dict[str, object]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            admin_hash = await conn.scalar(
                select(users.c.password_hash).where(users.c.email == DEMO_ADMIN_EMAIL)
            )
            return {
                "users": await conn.scalar(select(func.count()).select_from(users)),
                "stores": await conn.scalar(select(func.count()).select_from(stores)),
                "versions": await conn.scalar(select(func.count()).select_from(content_versions)),
                "admin_hash": admin_hash,
            }
    finally:
        await engine.dispose()


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    """Whatever a failing test leaves running is stopped (SIGINT first, then SIGKILL)."""
    started: list[Stack] = []
    yield started
    for stack in started:
        if stack.process.poll() is None:
            stack.process.send_signal(signal.SIGINT)
            try:
                stack.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                stack.process.kill()
                stack.process.wait()
        for pid in alive(stack.pids):
            psutil.Process(pid).kill()


@pytest.mark.long
def test_signage_up_serves_stops_cleanly_and_keeps_its_data(
    embedded_data_dir: Path, tmp_path: Path, stacks: list[Stack]
) -> None:
    first = start(embedded_data_dir, tmp_path, tmp_path / "first.log")
    stacks.append(first)
    wait_ready(first)
    record_pids(first, embedded_data_dir)

    status, body = http_get(f"http://127.0.0.1:{first.api_port}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, page = http_get(f"http://127.0.0.1:{first.api_port}/graphql", accept="text/html")
    assert status == 200 and "graphiql" in page.lower()
    assert graphql(first.api_port, "{ __typename }") == (200, {"data": {"__typename": "Query"}})
    # The banner comes once both edges are ready; give the supervisor's poll a moment.
    deadline = time.monotonic() + 10
    while "alive-signage is up" not in first.output() and time.monotonic() < deadline:
        time.sleep(0.2)
    output = first.output()
    assert f"http://127.0.0.1:{first.api_port}/graphql" in output
    assert f"{DEMO_ADMIN_EMAIL} / {DEV_DEMO_ADMIN_PASSWORD}" in output
    assert "demo data seeded" in output
    wait_for_worker_round_trip(printed_url(first, "Redis"), "signage:", first)
    # The banner says where each process serves its metrics, and each one does.
    metrics = re.findall(r"(?:api|edge|worker|scheduler) (http://127\.0\.0\.1:\d+/metrics)", output)
    assert len(metrics) == 4, output
    for url in metrics:
        status, text = http_get(url, accept="text/plain")
        assert status == 200 and "signage_build_info" in text, (url, status)

    assert stop_with_sigint(first) == 0, first.output()
    assert alive(first.pids) == set(), first.output()
    stopped = re.search(r"signage: stopped (.*)", first.output())
    assert stopped and stopped.group(1) == "scheduler, worker, edge, api", first.output()

    second = start(embedded_data_dir, tmp_path, tmp_path / "second.log")
    stacks.append(second)
    wait_ready(second)
    record_pids(second, embedded_data_dir)
    assert "demo data already present" in second.output()
    counts = in_thread(lambda: asyncio.run(seeded_counts(printed_url(second, "PostgreSQL"))))
    assert (counts["users"], counts["stores"], counts["versions"]) == (1, 1, 1)
    assert isinstance(counts["admin_hash"], str)
    assert verify_password(counts["admin_hash"], DEV_DEMO_ADMIN_PASSWORD)

    assert stop_with_sigint(second) == 0, second.output()
    assert alive(second.pids) == set(), second.output()


def test_signage_up_uses_the_given_urls_instead_of_embedded_servers(
    fresh_database: str, service_urls: Any, tmp_path: Path, stacks: list[Stack]
) -> None:
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    data_dir = tmp_path / "data"
    settings = {
        "DATABASE_URL": fresh_database,
        "REDIS_URL": service_urls.redis,
        "REDIS_KEY_PREFIX": prefix,
    }
    stack = start(data_dir, tmp_path, tmp_path / "given.log", settings)
    stacks.append(stack)
    try:
        wait_ready(stack)
        record_pids(stack, data_dir, embedded=False)
        assert printed_url(stack, "PostgreSQL") == fresh_database
        assert "embedded" not in stack.output()
        assert not (data_dir / "pg").exists() and not (data_dir / "redis").exists()
        wait_for_worker_round_trip(service_urls.redis, prefix, stack)
        counts = in_thread(lambda: asyncio.run(seeded_counts(fresh_database)))
        assert (counts["users"], counts["stores"], counts["versions"]) == (1, 1, 1)

        assert stop_with_sigint(stack) == 0, stack.output()
        assert alive(stack.pids) == set(), stack.output()
    finally:
        client = redis.Redis.from_url(service_urls.redis)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
