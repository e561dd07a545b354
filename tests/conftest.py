"""Shared fixtures: real PostgreSQL, real Redis, real HTTP through the ASGI apps.

Each test gets its own database cloned from a migrated template and its own Redis key
prefix, so tests never see each other's data and nothing is left behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

os.environ.setdefault("SIGNAGE_BROKER", "stub")  # unit tests of actors; Redis-broker tests opt out

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from tests.harness import DatabaseFactory, ServiceURLs, discover

pytest_plugins = ["tests.outage_fixtures"]  # outage_services, postgres_proxy, redis_proxy...

TEST_JWT_KEYS = (
    '{"k1": "test-signing-key-k1-0123456789abcdef0123",'
    ' "k0": "test-signing-key-k0-0123456789abcdef0123"}'
)
# Not the built-in dev secret: every environment but dev refuses that one.
TEST_STORAGE_SIGNING_SECRET = "test-storage-signing-secret-0123456789abcdef"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
_SERVICES = pytest.StashKey[ServiceURLs]()


def pytest_configure(config: pytest.Config) -> None:
    """Find (or start) PostgreSQL and Redis once, in the process that runs the session.

    Under pytest-xdist (`make test`) that is the controller, before it starts its workers:
    they inherit TEST_DATABASE_URL/TEST_REDIS_URL and so share one pair of servers (on a
    machine without any, one pair of embedded servers rather than one per worker). Each
    worker still builds its own template database (`DatabaseFactory`)."""
    if hasattr(config, "workerinput"):
        return
    urls = discover()
    os.environ["TEST_DATABASE_URL"] = urls.postgres
    os.environ["TEST_REDIS_URL"] = urls.redis
    config.stash[_SERVICES] = urls


def pytest_unconfigure(config: pytest.Config) -> None:
    urls = config.stash.get(_SERVICES, None)
    if urls is not None:
        urls.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` (minutes, not seconds) run first, each next to a short one.

    `make test` runs xdist with `--maxschedchunk 1`: each worker starts with two consecutive
    tests and then takes one at a time. Interleaving puts each long test on its own worker
    from the start, so the workers finish together instead of one long test starting last."""
    long = [item for item in items if item.get_closest_marker("long")]
    if not long:
        return
    short = [item for item in items if not item.get_closest_marker("long")]
    ordered: list[pytest.Item] = []
    for index, item in enumerate(long):
        ordered.append(item)
        if index < len(short):
            ordered.append(short[index])
    ordered.extend(short[len(long) :])
    items[:] = ordered


@pytest.fixture(scope="session")
def service_urls() -> Iterator[ServiceURLs]:
    """The servers `pytest_configure` found, as every test process sees them (from
    TEST_DATABASE_URL/TEST_REDIS_URL: this starts no server)."""
    urls = discover()
    yield urls
    urls.stop()


@pytest.fixture(scope="session")
def db_factory(service_urls: ServiceURLs) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(service_urls.postgres)
    factory.build_template()
    yield factory
    factory.drop_template()


@pytest.fixture
async def database_url(db_factory: DatabaseFactory) -> AsyncIterator[str]:
    url = await db_factory.create()
    yield url
    await db_factory.drop(url)


@pytest.fixture
async def redis_prefix(service_urls: ServiceURLs) -> AsyncIterator[str]:
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.Redis.from_url(service_urls.redis)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def settings(
    database_url: str, redis_prefix: str, service_urls: ServiceURLs, tmp_path: Path
) -> Settings:
    return Settings.model_validate(
        {
            "SIGNAGE_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": service_urls.redis,
            "REDIS_KEY_PREFIX": redis_prefix,
            "SIGNAGE_DATA_DIR": str(tmp_path / "data"),
            "JWT_KEYS": TEST_JWT_KEYS,
            "JWT_ACTIVE_KID": "k1",
            "STORAGE_SIGNING_SECRET": TEST_STORAGE_SIGNING_SECRET,
        }
    )


@pytest.fixture
async def services(settings: Settings, clock: FrozenClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    yield svc
    await svc.close()


@pytest.fixture
async def api_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    from graphql_api.app import create_app

    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@pytest.fixture
async def edge_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    from device_edge.app import create_app

    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as client:
        yield client
