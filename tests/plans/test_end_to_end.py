"""A change regenerates plans end to end: console mutation -> hook -> real Redis broker ->
real Dramatiq worker -> playout_plans + Redis ETag -> the edge and the heartbeat."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from core.bootstrap import Services
from core.db.enums import Role
from tests.graphql_api.helpers import create_user_and_token, gql_data, mint_device_token
from tests.plans.builders import make_world, plan_rows
from tests.plans.conftest import Planning

HEARTBEAT: dict[str, Any] = {"now_playing": None, "disk_used_bytes": 1, "counters": {}}

DISABLE = """
mutation Disable($id: UUID!) {
  setScheduleEnabled(id: $id, enabled: false) {
    __typename
    ... on ScheduleSuccess { schedule { id enabled } }
  }
}
"""


async def heartbeat(client: httpx.AsyncClient, headers: dict[str, str], etag: str) -> Any:
    response = await client.post(
        "/v1/device/heartbeat", json={**HEARTBEAT, "plan_etag": etag}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_schedule_change_reaches_the_edge_through_the_redis_broker(
    services: Services,
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    redis_planning: Planning,
    trigger_to: Any,
) -> None:
    trigger_to(redis_planning.actors)
    world = await make_world(services, 3)
    device = world.device_ids[0]
    headers = {"Authorization": f"Bearer {mint_device_token(services, device)}"}
    first = await edge_client.get("/v1/device/plan", headers=headers)
    old = first.headers["etag"].strip('"')
    assert any(not w["fallback"] for w in first.json()["windows"])
    assert (await heartbeat(edge_client, headers, old))["plan_changed"] is False

    operator = await create_user_and_token(services, Role.OPERATOR)
    data = await gql_data(api_client, DISABLE, {"id": str(world.schedule_id)}, token=operator.token)
    assert data["setScheduleEnabled"]["__typename"] == "ScheduleSuccess"

    # The worker runs in other threads: wait (bounded) for the heartbeat to notice.
    beat: Any = None
    for _ in range(300):
        beat = await heartbeat(edge_client, headers, old)
        if beat["plan_changed"]:
            break
        await asyncio.sleep(0.1)
    assert beat["plan_changed"] is True, "the plan was not regenerated within 30 s"
    new = beat["plan_etag"]
    assert new != old

    response = await edge_client.get(
        "/v1/device/plan", headers={**headers, "If-None-Match": f'"{old}"'}
    )
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{new}"'
    # The schedule no longer plays: the default playlist fills the whole horizon.
    assert all(w["fallback"] for w in response.json()["windows"])
    unchanged = await edge_client.get(
        "/v1/device/plan", headers={**headers, "If-None-Match": f'W/"{new}"'}
    )
    assert unchanged.status_code == 304

    # Every device of the group got the new plan, from one engine computation.
    rows = await plan_rows(services)
    for _ in range(100):
        if {rows[d].etag for d in world.device_ids if d in rows} == {new} and len(rows) == 3:
            break
        await asyncio.sleep(0.1)
        rows = await plan_rows(services)
    assert {row.etag for row in rows.values()} == {new}
    # The plans are visible before the actor that stored them has returned: wait until the
    # worker has finished every message before reading what it processed.
    await redis_planning.join()
    assert redis_planning.computer.computations == 1
    assert redis_planning.processed.of("apply_plan_change")
    assert redis_planning.processed.of("regenerate_plans")
