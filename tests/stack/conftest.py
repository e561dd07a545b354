"""A throwaway, migrated database per test, on the PostgreSQL the shared harness found."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from core.db.migrations import upgrade


def in_thread(fn: Any) -> Any:
    """Run blocking set-up that calls asyncio.run outside the session's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _execute(server_url: str, statement: str) -> None:
    dsn = make_url(_with_database(server_url, "postgres")).set(drivername="postgresql")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def fresh_database(service_urls: Any) -> Iterator[str]:
    """A database created here and migrated with `core.db.migrations.upgrade`, then dropped."""
    server = service_urls.postgres
    name = f"signage_stack_{uuid.uuid4().hex[:12]}"
    url = _with_database(server, name)

    def create() -> None:
        asyncio.run(_execute(server, f'CREATE DATABASE "{name}"'))
        upgrade(url)

    in_thread(create)
    yield url
    in_thread(
        lambda: asyncio.run(_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    )


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A private directory outside pytest's basetemp for embedded servers.

    As root, the embedded PostgreSQL runs as another user that must traverse the path to its
    data; pytest strips group/other bits from /tmp/pytest-of-<user> whenever any session
    starts, which would cut a running test's server off from its own directory.
    """
    path = Path(tempfile.mkdtemp(prefix="signage-stack-"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)
