"""Redis out of reach costs a request a bounded wait, then a 503 + Retry-After on the device
edge and a typed UNAVAILABLE result for GraphQL's login; after Redis is back the next request
succeeds.

- Frozen (SIGSTOPped, partitioned: connections open, nothing answers): the wait is bounded
  by REDIS_TIMEOUT_S.
- Cut (dead or restarting: pooled connections closed, new ones refused): after the restart
  the pooled connections the server closed must not fail the first requests.

Both are played by the proxy in front of Redis (tests.outage_fixtures' `redis_proxy`), with
a short REDIS_TIMEOUT_S. Nothing here measures time: the hang guard around each request only
turns a hang into a failure.
"""

from __future__ import annotations

import httpx

from core.bootstrap import Services
from core.db.enums import Role
from tests.device_edge.conftest import HEARTBEAT, Paired, create_placement, pair
from tests.graphql_api.helpers import TEST_PASSWORD, create_user
from tests.outages import (
    OutageProxy,
    answered,
    assert_unavailable,
    assert_unavailable_result,
    login_outcome,
)


async def _heartbeat(edge: httpx.AsyncClient, device: Paired) -> httpx.Response:
    return await answered(edge.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth))


async def _plan(edge: httpx.AsyncClient, device: Paired) -> httpx.Response:
    return await answered(edge.get("/v1/device/plan", headers=device.auth))


async def test_edge_requests_needing_redis_are_503_while_it_is_frozen_then_succeed(
    redis_proxy: OutageProxy, outage_services: Services, outage_edge: httpx.AsyncClient
) -> None:
    device = await pair(outage_edge, outage_services, await create_placement(outage_services))
    assert (await _heartbeat(outage_edge, device)).status_code == 200
    assert (await _plan(outage_edge, device)).status_code == 200

    await redis_proxy.freeze()
    assert_unavailable(await _heartbeat(outage_edge, device))
    assert_unavailable(await _plan(outage_edge, device))
    not_ready = await answered(outage_edge.get("/readyz"))
    assert not_ready.status_code == 503, not_ready.text
    assert not_ready.json()["checks"]["postgres"] == "ok"

    await redis_proxy.restore()
    heartbeat = await _heartbeat(outage_edge, device)
    assert heartbeat.status_code == 200, heartbeat.text
    plan = await _plan(outage_edge, device)
    assert plan.status_code == 200, plan.text


async def test_login_is_unavailable_while_redis_is_frozen_then_succeeds(
    services: Services, redis_proxy: OutageProxy, outage_api: httpx.AsyncClient
) -> None:
    _, email = await create_user(services, role=Role.OPERATOR)

    await redis_proxy.freeze()
    assert_unavailable_result(await login_outcome(outage_api, email, TEST_PASSWORD))
    assert_unavailable_result(await login_outcome(outage_api, email, TEST_PASSWORD))

    await redis_proxy.restore()
    signed_in = await login_outcome(outage_api, email, TEST_PASSWORD)
    assert signed_in["__typename"] == "AuthPayload", signed_in


async def test_edge_requests_are_503_while_redis_is_cut_and_succeed_after_its_restart(
    redis_proxy: OutageProxy, outage_services: Services, outage_edge: httpx.AsyncClient
) -> None:
    device = await pair(outage_edge, outage_services, await create_placement(outage_services))
    assert (await _heartbeat(outage_edge, device)).status_code == 200  # pooled connections

    await redis_proxy.cut()
    assert_unavailable(await _heartbeat(outage_edge, device))
    assert_unavailable(await _plan(outage_edge, device))

    await redis_proxy.restore()
    heartbeat = await _heartbeat(outage_edge, device)
    assert heartbeat.status_code == 200, heartbeat.text
    plan = await _plan(outage_edge, device)
    assert plan.status_code == 200, plan.text


async def test_the_first_requests_after_a_redis_restart_nobody_saw_succeed(
    services: Services,
    redis_proxy: OutageProxy,
    outage_services: Services,
    outage_edge: httpx.AsyncClient,
    outage_api: httpx.AsyncClient,
) -> None:
    """Every pooled Redis connection died while no request came: none may fail a request."""
    _, email = await create_user(services, role=Role.OPERATOR)
    device = await pair(outage_edge, outage_services, await create_placement(outage_services))
    assert (await _heartbeat(outage_edge, device)).status_code == 200
    assert (await login_outcome(outage_api, email, TEST_PASSWORD))["__typename"] == "AuthPayload"

    await redis_proxy.cut()
    await redis_proxy.restore()
    heartbeat = await _heartbeat(outage_edge, device)
    assert heartbeat.status_code == 200, heartbeat.text
    plan = await _plan(outage_edge, device)
    assert plan.status_code == 200, plan.text
    signed_in = await login_outcome(outage_api, email, TEST_PASSWORD)
    assert signed_in["__typename"] == "AuthPayload", signed_in
