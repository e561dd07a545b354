"""Convergence in the console: `Device.syncState` and its details, the not-in-sync filter,
the fleet summary's convergence counts, and `deviceSyncStateChanged`, fed by real heartbeats
through the device edge (docs/convergence.md)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import DeviceStatus, Role
from core.db.tables import devices, playout_plans
from core.events_bus import DEVICE_SYNC
from core.plans import PlanComputer, regenerate
from tests.conftest import T0
from tests.graphql_api.helpers import (
    count_queries,
    create_user_and_token,
    gql_data,
    mint_device_token,
)
from tests.graphql_api.live_console import live_console, open_socket
from tests.graphql_api.test_monitoring_subscriptions import until_subscribed
from tests.plans.builders import World, make_world

DEVICE = """
query ($id: UUID!) {
  device(id: $id) {
    syncState syncStateSince desiredPlanEtag reportedPlanEtag
    missingContentVersions { contentId version content { name } }
    failedContentVersions { contentId version error at neededByPlan content { name } }
  }
}
"""
DEVICES = """
query ($filter: DeviceFilter) {
  devices(filter: $filter, first: 100) {
    totalCount
    nodes {
      id syncState syncStateSince desiredPlanEtag
      missingContentVersions { contentId version content { name } }
      failedContentVersions { contentId version error neededByPlan content { name } }
    }
  }
}
"""
OVERVIEW = """
query ($groupId: UUID) {
  fleetOverview(groupId: $groupId) {
    devicesTotal notInSync devicesBySyncState { syncState count }
  }
}
"""
SYNC_CHANGES = """
subscription ($deviceId: UUID, $groupId: UUID) {
  deviceSyncStateChanged(deviceId: $deviceId, groupId: $groupId) {
    deviceId groupId syncState previousSyncState syncStateSince
    desiredPlanEtag reportedPlanEtag device { id syncState }
  }
}
"""
SUMMARY = "subscription { fleetSummary { notInSync devicesBySyncState { syncState count } } }"


async def plan_versions(services: Services, device_id: uuid.UUID) -> tuple[str, list[Any]]:
    """The stored plan's ETag and its content versions, as a player reads its plan items."""
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(playout_plans.c.etag, playout_plans.c.plan_json).where(
                    playout_plans.c.device_id == device_id
                )
            )
        ).one()
    refs = sorted({(i["content_id"], i["version"]) for i in row.plan_json["items"]})
    return row.etag, [{"content_id": c, "version": v} for c, v in refs]


async def beat(
    edge_client: httpx.AsyncClient, services: Services, device_id: uuid.UUID, **fields: Any
) -> None:
    body = {"disk_used_bytes": 1, "counters": {}, **fields}
    headers = {"Authorization": f"Bearer {mint_device_token(services, device_id)}"}
    response = await edge_client.post("/v1/device/heartbeat", json=body, headers=headers)
    assert response.status_code == 200, response.text


async def planned_world(services: Services, devices_count: int) -> World:
    world = await make_world(services, devices_count)
    await regenerate(services, world.device_ids, computer=PlanComputer())
    return world


async def test_device_shows_desired_versus_reported_and_what_it_lacks(
    services: Services,
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    clock: FrozenClock,
) -> None:
    world = await planned_world(services, 1)
    [device] = world.device_ids
    viewer = await create_user_and_token(services, Role.VIEWER)
    etag, versions = await plan_versions(services, device)
    promo = next(v for v in versions if v["content_id"] == str(world.promo_content))
    filler = next(v for v in versions if v != promo)

    before = (await gql_data(api_client, DEVICE, {"id": str(device)}, token=viewer.token))["device"]
    assert before["syncState"] == "PENDING"
    assert (before["desiredPlanEtag"], before["reportedPlanEtag"]) == (etag, None)
    assert before["missingContentVersions"] is None  # the player has not reported its cache
    assert before["failedContentVersions"] == []

    clock.advance(timedelta(seconds=60))
    await beat(
        edge_client,
        services,
        device,
        plan_etag=etag,
        cached_content_versions=[filler],
        failed_content_versions=[{**promo, "error": "HTTP 503", "at": "2026-03-02T10:00:50Z"}],
    )
    failed = (await gql_data(api_client, DEVICE, {"id": str(device)}, token=viewer.token))["device"]
    assert failed == {
        "syncState": "FAILED",
        "syncStateSince": (T0 + timedelta(seconds=60)).isoformat(),
        "desiredPlanEtag": etag,
        "reportedPlanEtag": etag,
        "missingContentVersions": [
            {"contentId": promo["content_id"], "version": 1, "content": {"name": "promo"}}
        ],
        "failedContentVersions": [
            {
                "contentId": promo["content_id"],
                "version": 1,
                "error": "HTTP 503",
                "at": "2026-03-02T10:00:50+00:00",
                "neededByPlan": True,
                "content": {"name": "promo"},
            }
        ],
    }

    clock.advance(timedelta(seconds=60))
    await beat(
        edge_client,
        services,
        device,
        plan_etag=etag,
        cached_content_versions=versions,
        failed_content_versions=[],
    )
    synced = (await gql_data(api_client, DEVICE, {"id": str(device)}, token=viewer.token))["device"]
    assert synced["syncState"] == "IN_SYNC"
    assert synced["syncStateSince"] == (T0 + timedelta(seconds=120)).isoformat()
    assert synced["missingContentVersions"] == [] and synced["failedContentVersions"] == []


async def test_filter_and_fleet_summary_count_devices_not_in_sync(
    services: Services, api_client: httpx.AsyncClient, edge_client: httpx.AsyncClient
) -> None:
    world = await planned_world(services, 5)
    in_sync, downloading, failed, pending, retired = world.device_ids
    etag, versions = await plan_versions(services, in_sync)
    await beat(edge_client, services, in_sync, plan_etag=etag)  # an older player: ETag only
    await beat(
        edge_client, services, downloading, plan_etag=etag, cached_content_versions=versions[:1]
    )
    await beat(
        edge_client,
        services,
        failed,
        plan_etag=etag,
        failed_content_versions=[{**versions[0], "error": "disk full"}],
    )
    await beat(edge_client, services, retired, plan_etag=etag)
    async with services.engine.begin() as conn:  # decommissioned devices are not counted
        await conn.execute(
            sa.update(devices)
            .where(devices.c.id == retired)
            .values(status=DeviceStatus.DECOMMISSIONED.value)
        )
    viewer = await create_user_and_token(services, Role.VIEWER)

    async def listed(filter: dict[str, Any]) -> dict[str, str]:
        data = await gql_data(api_client, DEVICES, {"filter": filter}, token=viewer.token)
        return {node["id"]: node["syncState"] for node in data["devices"]["nodes"]}

    assert await listed({"inSync": False}) == {
        str(downloading): "DOWNLOADING",
        str(failed): "FAILED",
        str(pending): "PENDING",
    }
    assert await listed({"inSync": True}) == {str(in_sync): "IN_SYNC"}
    assert await listed({"syncState": ["FAILED", "PENDING"]}) == {
        str(failed): "FAILED",
        str(pending): "PENDING",
    }
    assert await listed({"syncState": ["FAILED"], "groupId": str(uuid.uuid4())}) == {}

    overview = (
        await gql_data(api_client, OVERVIEW, {"groupId": str(world.group_id)}, token=viewer.token)
    )["fleetOverview"]
    assert overview["devicesTotal"] == 5
    assert overview["notInSync"] == 3
    assert {c["syncState"]: c["count"] for c in overview["devicesBySyncState"]} == {
        "IN_SYNC": 1,
        "PENDING": 1,
        "DOWNLOADING": 1,
        "FAILED": 1,
    }


async def _devices_page_statements(
    services: Services,
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    count: int,
) -> int:
    world = await planned_world(services, count)
    etag, versions = await plan_versions(services, world.device_ids[0])
    for device in world.device_ids:
        await beat(
            edge_client,
            services,
            device,
            plan_etag=etag,
            cached_content_versions=versions[:1],
            failed_content_versions=[{**versions[1], "error": "HTTP 404"}],
        )
    viewer = await create_user_and_token(services, Role.VIEWER)
    variables = {"filter": {"groupId": str(world.group_id), "inSync": False}}
    with count_queries(services) as counted:
        data = await gql_data(api_client, DEVICES, variables, token=viewer.token)
    nodes = data["devices"]["nodes"]
    assert len(nodes) == count
    assert all(n["syncState"] == "FAILED" and len(n["missingContentVersions"]) == 1 for n in nodes)
    assert all(n["failedContentVersions"][0]["content"] is not None for n in nodes)
    return counted.count


async def test_sync_fields_of_a_page_of_devices_cost_the_same_statements_for_3_or_30(
    services: Services, api_client: httpx.AsyncClient, edge_client: httpx.AsyncClient
) -> None:
    few = await _devices_page_statements(services, api_client, edge_client, 3)
    many = await _devices_page_statements(services, api_client, edge_client, 30)  # own group
    assert few == many, (few, many)


async def test_sync_state_changes_reach_the_console_live(
    services: Services, edge_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    world = await planned_world(services, 2)
    device, other = world.device_ids
    etag, versions = await plan_versions(services, device)
    viewer = await create_user_and_token(services, Role.VIEWER)

    async with live_console(services) as url, open_socket(url, viewer.token) as console:
        await console.subscribe("summary", SUMMARY)
        first = (await console.next_data("summary"))["fleetSummary"]
        assert first["notInSync"] == 2
        await console.subscribe("one", SYNC_CHANGES, {"deviceId": str(device)})
        await console.subscribe("group", SYNC_CHANGES, {"groupId": str(world.group_id)})
        await until_subscribed(services, DEVICE_SYNC, 3)  # the summary's producer listens too

        clock.advance(timedelta(seconds=30))
        await beat(
            edge_client, services, device, plan_etag=etag, cached_content_versions=versions[:1]
        )
        received = {m["id"]: m for m in [await console.receive() for _ in range(3)]}
        assert set(received) == {"one", "group", "summary"}
        change = received["one"]["payload"]["data"]["deviceSyncStateChanged"]
        assert change == {
            "deviceId": str(device),
            "groupId": str(world.group_id),
            "syncState": "DOWNLOADING",
            "previousSyncState": "PENDING",
            "syncStateSince": (T0 + timedelta(seconds=30)).isoformat(),
            "desiredPlanEtag": etag,
            "reportedPlanEtag": etag,
            "device": {"id": str(device), "syncState": "DOWNLOADING"},
        }
        assert received["group"]["payload"]["data"]["deviceSyncStateChanged"] == change
        summary = received["summary"]["payload"]["data"]["fleetSummary"]
        assert summary["notInSync"] == 2
        counts = {c["syncState"]: c["count"] for c in summary["devicesBySyncState"]}
        assert (counts["PENDING"], counts["DOWNLOADING"]) == (1, 1)

        # The other device: only the group subscription hears of it.
        await beat(edge_client, services, other, plan_etag=etag)
        other_change = await console.next_data("group")
        assert other_change["deviceSyncStateChanged"]["deviceId"] == str(other)
        assert other_change["deviceSyncStateChanged"]["syncState"] == "IN_SYNC"
        summary = (await console.next_data("summary"))["fleetSummary"]
        assert summary["notInSync"] == 1
