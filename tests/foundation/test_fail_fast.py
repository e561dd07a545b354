"""A frozen PostgreSQL costs a request a bounded wait, then a 503 + Retry-After; /readyz says
so at once; and when the server answers again, the very next request succeeds.

PostgreSQL is "frozen" by the proxy between the app and the real server
(tests.outage_fixtures' `postgres_proxy`, `freeze()`): connections stay open and nothing
answers, as with a SIGSTOPped server or a network partition. Every request is wrapped in a
generous hang guard (`tests.outages.answered`) so that a regression (a hang) fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import httpx
import pytest

from core.bootstrap import Services
from core.config import Settings
from tests.device_edge.conftest import HEARTBEAT, Paired, create_placement, pair
from tests.outages import OutageProxy, answered, assert_unavailable


async def _paired(services: Services, edge: httpx.AsyncClient) -> Paired:
    return await pair(edge, services, await create_placement(services))


async def _heartbeat(edge: httpx.AsyncClient, device: Paired) -> httpx.Response:
    return await answered(edge.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth))


async def test_heartbeat_on_a_frozen_database_is_a_503_then_recovers(
    postgres_proxy: OutageProxy, outage_services: Services, outage_edge: httpx.AsyncClient
) -> None:
    device = await _paired(outage_services, outage_edge)
    assert (await _heartbeat(outage_edge, device)).status_code == 200  # a kept connection

    await postgres_proxy.freeze()
    assert_unavailable(await _heartbeat(outage_edge, device))
    assert_unavailable(await _heartbeat(outage_edge, device))  # and again: nothing piles up

    await postgres_proxy.restore()
    recovered = await _heartbeat(outage_edge, device)
    assert recovered.status_code == 200, recovered.text


async def test_plan_on_a_frozen_database_is_a_503_then_recovers(
    postgres_proxy: OutageProxy, outage_services: Services, outage_edge: httpx.AsyncClient
) -> None:
    device = await _paired(outage_services, outage_edge)

    await postgres_proxy.freeze()
    assert_unavailable(await answered(outage_edge.get("/v1/device/plan", headers=device.auth)))

    await postgres_proxy.restore()
    recovered = await answered(outage_edge.get("/v1/device/plan", headers=device.auth))
    assert recovered.status_code == 200, recovered.text


async def test_readiness_on_a_frozen_database_says_not_ready_then_ready(
    postgres_proxy: OutageProxy, outage_edge: httpx.AsyncClient
) -> None:
    assert (await outage_edge.get("/readyz")).status_code == 200

    await postgres_proxy.freeze()
    frozen = await answered(outage_edge.get("/readyz"))
    assert frozen.status_code == 503, frozen.text
    checks = frozen.json()["checks"]
    assert checks["postgres"].startswith("unreachable"), checks
    assert checks["redis"] == "ok"

    await postgres_proxy.restore()
    ready = await answered(outage_edge.get("/readyz"))
    assert ready.status_code == 200, ready.text


async def test_a_statement_beyond_the_timeout_is_cancelled_by_the_server(
    outage_services: Services,
) -> None:
    """A live but slow server: PostgreSQL cancels the statement itself (SQLSTATE 57014),
    which counts as "backend unavailable" (a 503), and the connection stays usable."""
    from sqlalchemy import text

    from core.backends import backend_unavailable

    async def slow_then_usable() -> None:
        async with outage_services.engine.connect() as conn:
            with pytest.raises(Exception) as caught:
                await conn.execute(text("SELECT pg_sleep(5)"))
            assert backend_unavailable(caught.value), repr(caught.value)
            await conn.rollback()
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1

    await answered(slow_then_usable())


def test_the_timeouts_are_settings_with_bounded_defaults() -> None:
    settings = Settings.model_validate({"SIGNAGE_ENV": "dev"})
    assert 0 < settings.db_statement_timeout_ms <= 60_000
    assert 0 < settings.db_connect_timeout_s <= 30
    assert 0 < settings.db_pool_timeout_s <= 30
    assert 0 < settings.redis_timeout_s <= 30
