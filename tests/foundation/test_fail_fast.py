"""A frozen PostgreSQL costs a request a bounded wait, then a 503 + Retry-After; /readyz says
so at once; and when the server answers again, the very next request succeeds.

PostgreSQL is "frozen" by a proxy between the app and the real server that stops forwarding
bytes (tests.outages.frozen_proxy): connections stay open and nothing answers, as with a
SIGSTOPped server or a network partition. Every request is wrapped in a generous
asyncio.timeout so that a regression (a hang) fails the test instead of stalling the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from device_edge.app import create_app
from tests.device_edge.conftest import HEARTBEAT, Paired, create_placement, pair
from tests.outages import FrozenProxy, frozen_proxy

GUARD_S = 10  # far above the 1 s timeouts below: only a hang reaches it


@pytest.fixture
async def proxied(
    settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[FrozenProxy, Services]]:
    assert settings.database_url is not None
    async with frozen_proxy(settings.database_url) as (proxy, url):
        fast = settings.model_copy(
            update={
                "database_url": url,
                "db_statement_timeout_ms": 1000,
                "db_connect_timeout_s": 1.0,
                "db_pool_timeout_s": 1.0,
            }
        )
        services = build_services(fast, clock=clock)
        try:
            yield proxy, services
        finally:
            proxy.resume()
            await services.close()


@pytest.fixture
async def edge(proxied: tuple[FrozenProxy, Services]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services=proxied[1])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as client:
        yield client


async def _paired(services: Services, edge: httpx.AsyncClient) -> Paired:
    return await pair(edge, services, await create_placement(services))


async def _heartbeat(edge: httpx.AsyncClient, device: Paired) -> httpx.Response:
    async with asyncio.timeout(GUARD_S):
        return await edge.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "unavailable"


async def test_heartbeat_on_a_frozen_database_is_a_503_then_recovers(
    proxied: tuple[FrozenProxy, Services], edge: httpx.AsyncClient
) -> None:
    proxy, services = proxied
    device = await _paired(services, edge)
    assert (await _heartbeat(edge, device)).status_code == 200  # a kept connection exists

    proxy.freeze()
    _assert_unavailable(await _heartbeat(edge, device))
    _assert_unavailable(await _heartbeat(edge, device))  # and again: nothing piles up

    proxy.resume()
    recovered = await _heartbeat(edge, device)
    assert recovered.status_code == 200, recovered.text


async def test_plan_on_a_frozen_database_is_a_503_then_recovers(
    proxied: tuple[FrozenProxy, Services], edge: httpx.AsyncClient
) -> None:
    proxy, services = proxied
    device = await _paired(services, edge)

    proxy.freeze()
    async with asyncio.timeout(GUARD_S):
        frozen = await edge.get("/v1/device/plan", headers=device.auth)
    _assert_unavailable(frozen)

    proxy.resume()
    async with asyncio.timeout(GUARD_S):
        recovered = await edge.get("/v1/device/plan", headers=device.auth)
    assert recovered.status_code == 200, recovered.text


async def test_readiness_on_a_frozen_database_says_not_ready_then_ready(
    proxied: tuple[FrozenProxy, Services], edge: httpx.AsyncClient
) -> None:
    proxy, _ = proxied
    assert (await edge.get("/readyz")).status_code == 200

    proxy.freeze()
    async with asyncio.timeout(GUARD_S):
        frozen = await edge.get("/readyz")
    assert frozen.status_code == 503, frozen.text
    checks = frozen.json()["checks"]
    assert checks["postgres"].startswith("unreachable"), checks
    assert checks["redis"] == "ok"

    proxy.resume()
    async with asyncio.timeout(GUARD_S):
        ready = await edge.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_a_statement_beyond_the_timeout_is_cancelled_by_the_server(
    proxied: tuple[FrozenProxy, Services],
) -> None:
    """A live but slow server: PostgreSQL cancels the statement itself (SQLSTATE 57014),
    which counts as "backend unavailable" (a 503), and the connection stays usable."""
    from sqlalchemy import text

    from core.backends import backend_unavailable

    _, services = proxied
    async with asyncio.timeout(GUARD_S), services.engine.connect() as conn:
        with pytest.raises(Exception) as caught:
            await conn.execute(text("SELECT pg_sleep(5)"))
        assert backend_unavailable(caught.value), repr(caught.value)
        await conn.rollback()
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


def test_the_timeouts_are_settings_with_bounded_defaults() -> None:
    settings = Settings.model_validate({"SIGNAGE_ENV": "dev"})
    assert 0 < settings.db_statement_timeout_ms <= 60_000
    assert 0 < settings.db_connect_timeout_s <= 30
    assert 0 < settings.db_pool_timeout_s <= 30
    assert 0 < settings.redis_timeout_s <= 30
