"""Shared fixtures for outage tests (registered in tests/conftest.py as a plugin).

`outage_services` are the test's usual services (same database, Redis key prefix, clock)
with PostgreSQL and Redis each reached through an `OutageProxy` (`postgres_proxy`,
`redis_proxy`) and every backend wait bounded by short timeouts, so a test can put either
backend out of reach and see what the apps built on them (`outage_edge`, `outage_api`)
answer. The timeouts are small so that tests run quickly, not to be asserted on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from tests.outages import OutageProxy, outage_proxy

OUTAGE_TIMEOUTS = {
    "db_statement_timeout_ms": 1000,
    "db_connect_timeout_s": 1.0,
    "db_pool_timeout_s": 1.0,
    "redis_timeout_s": 0.5,
}


@pytest.fixture
async def postgres_proxy(settings: Settings) -> AsyncIterator[OutageProxy]:
    assert settings.database_url is not None
    async with outage_proxy(settings.database_url) as proxy:
        yield proxy


@pytest.fixture
async def redis_proxy(settings: Settings) -> AsyncIterator[OutageProxy]:
    assert settings.redis_url is not None
    async with outage_proxy(settings.redis_url) as proxy:
        yield proxy


@pytest.fixture
def outage_settings(
    settings: Settings, postgres_proxy: OutageProxy, redis_proxy: OutageProxy
) -> Settings:
    return settings.model_copy(
        update={
            "database_url": postgres_proxy.url,
            "redis_url": redis_proxy.url,
            **OUTAGE_TIMEOUTS,
        }
    )


@pytest.fixture
async def outage_services(
    outage_settings: Settings,
    clock: FrozenClock,
    postgres_proxy: OutageProxy,
    redis_proxy: OutageProxy,
) -> AsyncIterator[Services]:
    services = build_services(outage_settings, clock=clock)
    try:
        yield services
    finally:
        # Back in reach first, so that closing does not wait on a frozen server.
        await postgres_proxy.restore()
        await redis_proxy.restore()
        await services.close()


@pytest.fixture
async def outage_edge(outage_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The device edge on `outage_services`."""
    from device_edge.app import create_app

    transport = httpx.ASGITransport(app=create_app(services=outage_services))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as client:
        yield client


@pytest.fixture
async def outage_api(outage_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The admin GraphQL API on `outage_services`."""
    from graphql_api.app import create_app

    transport = httpx.ASGITransport(app=create_app(services=outage_services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client
