"""PostgreSQL starting up or recovering (SQLSTATE 57P03, "the database system is starting
up") is a backend outage like any other: 503 + Retry-After on the device edge, a typed
UNAVAILABLE error on GraphQL, login included; and once the server accepts connections again,
the very first requests succeed.

The restart is played by the proxy in front of the real server: `divert()` closes every
open connection, as a restart does, and sends new ones to `StartingUpPostgres`, which answers
each startup packet with the real server's 57P03 error. The machine's PostgreSQL is never
touched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.bootstrap import Services
from core.db.enums import Role
from tests.device_edge.conftest import HEARTBEAT, Paired, create_placement, pair
from tests.graphql_api.helpers import TEST_PASSWORD, create_user
from tests.outages import (
    OutageProxy,
    StartingUpPostgres,
    answered,
    assert_unavailable,
    assert_unavailable_result,
    login_outcome,
    starting_up_postgres,
)


@pytest.fixture
async def starting_up() -> AsyncIterator[StartingUpPostgres]:
    async with starting_up_postgres() as server:
        yield server


async def _heartbeat(edge: httpx.AsyncClient, device: Paired) -> httpx.Response:
    return await answered(edge.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth))


async def test_the_edge_answers_503_while_postgres_starts_up_then_recovers_at_once(
    postgres_proxy: OutageProxy,
    starting_up: StartingUpPostgres,
    outage_services: Services,
    outage_edge: httpx.AsyncClient,
) -> None:
    device = await pair(outage_edge, outage_services, await create_placement(outage_services))
    assert (await _heartbeat(outage_edge, device)).status_code == 200  # connections exist

    await postgres_proxy.divert("127.0.0.1", starting_up.port)
    assert_unavailable(await _heartbeat(outage_edge, device))
    assert_unavailable(await _heartbeat(outage_edge, device))
    not_ready = await answered(outage_edge.get("/readyz"))
    assert not_ready.status_code == 503, not_ready.text
    assert starting_up.refused > 0  # the 503s came from the 57P03 answers

    await postgres_proxy.restore()
    recovered = await _heartbeat(outage_edge, device)
    assert recovered.status_code == 200, recovered.text
    assert (await answered(outage_edge.get("/readyz"))).status_code == 200


async def test_graphql_is_unavailable_while_postgres_starts_up_then_recovers_at_once(
    services: Services,
    postgres_proxy: OutageProxy,
    starting_up: StartingUpPostgres,
    outage_api: httpx.AsyncClient,
) -> None:
    _, email = await create_user(services, role=Role.OPERATOR)
    signed_in = await login_outcome(outage_api, email, TEST_PASSWORD)
    assert signed_in["__typename"] == "AuthPayload", signed_in

    await postgres_proxy.divert("127.0.0.1", starting_up.port)
    assert_unavailable_result(await login_outcome(outage_api, email, TEST_PASSWORD))
    assert starting_up.refused > 0

    await postgres_proxy.restore()
    recovered = await login_outcome(outage_api, email, TEST_PASSWORD)
    assert recovered["__typename"] == "AuthPayload", recovered
