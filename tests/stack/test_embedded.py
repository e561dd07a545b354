"""The embedded PostgreSQL and Redis: data survives a restart, nothing outlives `stop`, a
second owner is refused, and a server left behind by a killed owner is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from ops.embedded import EmbeddedServiceError, start_embedded_postgres, start_embedded_redis
from tests.stack.conftest import in_thread
from tests.stack.support import ROOT

pytestmark = pytest.mark.slow


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


def redis_pid(data_dir: Path) -> int:
    return int((data_dir / "redis" / "redis.pid").read_text().strip())


def query(url: str, *statements: str) -> list[tuple[object, ...]]:
    """Statements through SQLAlchemy + asyncpg, exactly as the apps connect; the last's rows."""
    import asyncio

    from sqlalchemy import text

    from core.db.engine import create_engine

    async def run() -> list[tuple[object, ...]]:
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            rows: list[tuple[object, ...]] = []
            async with engine.begin() as conn:
                for statement in statements:
                    result = await conn.execute(text(statement))
                    rows = [tuple(row) for row in result.all()] if result.returns_rows else []
            return rows
        finally:
            await engine.dispose()

    return list(in_thread(lambda: asyncio.run(run())))


def test_data_survives_a_restart_and_stop_leaves_nothing(embedded_data_dir: Path) -> None:
    data = embedded_data_dir
    pg_url, stop_pg = start_embedded_postgres(data, database="stack_test")
    redis_url, stop_redis = start_embedded_redis(data)
    try:
        assert "host=" in pg_url and pg_url.startswith("postgresql://postgres@/stack_test")
        assert redis_url.startswith("unix://")
        query(pg_url, "CREATE TABLE kept (value text)", "INSERT INTO kept VALUES ('still here')")
        client = redis.Redis.from_url(redis_url)
        client.set("kept", b"still here")
        client.close()
        pids = [postmaster_pid(data), redis_pid(data)]
    finally:
        stop_redis()
        stop_pg()
    assert not any(pid_alive(pid) for pid in pids)
    assert not (data / "pg" / "postmaster.pid").exists()

    pg_url, stop_pg = start_embedded_postgres(data, database="stack_test")
    redis_url, stop_redis = start_embedded_redis(data)
    try:
        assert query(pg_url, "SELECT value FROM kept") == [("still here",)]
        client = redis.Redis.from_url(redis_url)
        assert client.get("kept") == b"still here"
        client.close()
    finally:
        stop_redis()
        stop_pg()
        stop_pg()  # idempotent


def test_a_second_owner_is_refused(embedded_data_dir: Path) -> None:
    data = embedded_data_dir
    _, stop = start_embedded_redis(data)
    try:
        with pytest.raises(EmbeddedServiceError, match="in use by another process"):
            start_embedded_redis(data)
    finally:
        stop()


def test_a_long_data_path_gets_a_short_socket(embedded_data_dir: Path) -> None:
    data = embedded_data_dir.joinpath(*(["a-rather-long-directory-name"] * 4))
    url, stop = start_embedded_redis(data)
    try:
        assert len(url) < 110
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
    finally:
        stop()
    assert not Path(url.removeprefix("unix://")).parent.exists()  # the /tmp fallback is gone


def test_servers_left_by_a_killed_owner_are_replaced(embedded_data_dir: Path) -> None:
    data = embedded_data_dir
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from pathlib import Path
                from ops.embedded import start_embedded_postgres, start_embedded_redis
                start_embedded_postgres(Path({str(data)!r}))
                start_embedded_redis(Path({str(data)!r}))
                print("ready", flush=True)
                time.sleep(600)
                """
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        lines = iter(owner.stdout.readline, "")
        assert any(line.strip() == "ready" for line in lines)  # after the servers' own logs
        leftovers = [postmaster_pid(data), redis_pid(data)]
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    assert all(pid_alive(pid) for pid in leftovers)  # the servers outlived their owner

    pg_url, stop_pg = start_embedded_postgres(data)
    redis_url, stop_redis = start_embedded_redis(data)
    try:
        assert not any(pid_alive(pid) for pid in leftovers)
        assert query(pg_url, "SELECT 1") == [(1,)]
        with redis.Redis.from_url(redis_url) as client:  # closed: no ResourceWarning later
            assert client.ping()
    finally:
        stop_redis()
        stop_pg()
