"""Redis-held plan ETags are rebuilt from PostgreSQL when missing.

A Redis restarted empty must not leave players on an old plan until the next regeneration:
the heartbeat, which reads its device row anyway, answers from the stored plan's ETag and
caches it again; the plan route does the same on its own path."""

from __future__ import annotations

from typing import Any

import httpx

from core.bootstrap import Services
from core.devices.heartbeat import plan_etag_key
from core.plans import cached_etag, regenerate
from tests.graphql_api.helpers import mint_device_token
from tests.plans.builders import make_world, plan_rows

HEARTBEAT: dict[str, Any] = {"now_playing": None, "disk_used_bytes": 1, "counters": {}}


async def test_the_heartbeat_answers_from_postgres_and_caches_the_etag_again(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 2)
    await regenerate(services, world.device_ids)
    device = world.device_ids[0]
    current = (await plan_rows(services))[device].etag
    await services.redis.delete(*[plan_etag_key(services.keys, d) for d in world.device_ids])

    headers = {"Authorization": f"Bearer {mint_device_token(services, device)}"}
    response = await edge_client.post(
        "/v1/device/heartbeat", json={**HEARTBEAT, "plan_etag": "an-old-plan"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["plan_changed"] is True
    assert response.json()["plan_etag"] == current
    assert await cached_etag(services, device) == current
    # Only the device that asked was touched.
    assert await cached_etag(services, world.device_ids[1]) is None


async def test_the_plan_route_serves_and_caches_the_stored_plan(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    await regenerate(services, world.device_ids)
    device = world.device_ids[0]
    current = (await plan_rows(services))[device].etag
    await services.redis.delete(plan_etag_key(services.keys, device))

    headers = {"Authorization": f"Bearer {mint_device_token(services, device)}"}
    stale = await edge_client.get(
        "/v1/device/plan", headers={**headers, "If-None-Match": '"an-old-plan"'}
    )
    assert stale.status_code == 200
    assert stale.headers["etag"] == f'"{current}"'
    assert await cached_etag(services, device) == current
    fresh = await edge_client.get(
        "/v1/device/plan", headers={**headers, "If-None-Match": f'"{current}"'}
    )
    assert fresh.status_code == 304
