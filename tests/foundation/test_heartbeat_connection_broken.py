"""The heartbeat writer's connection dies under it (PostgreSQL restarted, a failover, the
network cut): while the server is away heartbeats are 503 + Retry-After, never 500, and the
first heartbeat after it is back succeeds.

The writer keeps its connection between batches (`core.devices.heartbeat_writer`) and gives
it back to the pool after LINGER_S of idleness; both places are covered, by setting LINGER_S
so that the connection is certainly held, or certainly back in the pool, when the proxy in
front of PostgreSQL `cut()`s every connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from core.bootstrap import Services
from core.devices import heartbeat_writer
from device_edge.app import create_app
from device_edge.context import app_context
from tests.device_edge.conftest import HEARTBEAT, Paired, create_placement, pair
from tests.outages import OutageProxy, answered, assert_unavailable, until

HELD, POOLED = "held by the writer", "back in the pool"


@pytest.fixture(params=[HELD, POOLED])
def kept(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    where: str = request.param
    monkeypatch.setattr(heartbeat_writer, "LINGER_S", 3600.0 if where == HELD else 0.0)
    return where


@pytest.fixture
async def edge(
    outage_services: Services, kept: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Callable[[], int]]]:
    """The edge, and how many connections are checked out of the pool (the writer's)."""
    app = create_app(services=outage_services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as client:
        yield client, outage_services.engine.pool.checkedout  # type: ignore[attr-defined]
    await app_context(app).heartbeats.close()


async def _heartbeat(edge: httpx.AsyncClient, device: Paired) -> httpx.Response:
    return await answered(edge.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth))


async def _kept_connection(
    services: Services, edge: tuple[httpx.AsyncClient, Callable[[], int]], kept: str
) -> Paired:
    """A paired device whose first heartbeat left the writer's connection where `kept` says."""
    client, checked_out = edge
    device = await pair(client, services, await create_placement(services))
    assert (await _heartbeat(client, device)).status_code == 200
    await until(lambda: checked_out() == (1 if kept == HELD else 0))
    return device


async def test_heartbeats_are_503_while_the_connection_is_cut_and_succeed_once_restored(
    postgres_proxy: OutageProxy,
    outage_services: Services,
    edge: tuple[httpx.AsyncClient, Callable[[], int]],
    kept: str,
) -> None:
    device = await _kept_connection(outage_services, edge, kept)
    client = edge[0]

    await postgres_proxy.cut()
    assert_unavailable(await _heartbeat(client, device))
    assert_unavailable(await _heartbeat(client, device))

    await postgres_proxy.restore()
    first = await _heartbeat(client, device)
    assert first.status_code == 200, first.text


async def test_the_first_heartbeat_after_a_restart_nobody_saw_succeeds(
    postgres_proxy: OutageProxy,
    outage_services: Services,
    edge: tuple[httpx.AsyncClient, Callable[[], int]],
    kept: str,
) -> None:
    """No request arrived while the server was away: the kept connection is dead, but the
    heartbeat after the restart must not find out by failing."""
    device = await _kept_connection(outage_services, edge, kept)
    client = edge[0]

    await postgres_proxy.cut()
    await postgres_proxy.restore()
    first = await _heartbeat(client, device)
    assert first.status_code == 200, first.text
