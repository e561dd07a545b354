"""Incident queries with every filter, paging, and the fleet overview, over real HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import Role
from core.monitoring.sweep import run_sweep
from tests.conftest import T0
from tests.graphql_api.helpers import create_user_and_token, error_codes, gql, gql_data
from tests.monitoring.factories import make_device, make_group, make_store, update_device

INCIDENTS = """
query Incidents($filter: IncidentFilter, $first: Int, $after: String) {
  incidents(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id type severity status storeId deviceId createdAt resolvedAt details
      device { id name status }
      store { id name }
    }
  }
}
"""

OVERVIEW = """
query Overview($storeId: UUID, $groupId: UUID) {
  fleetOverview(storeId: $storeId, groupId: $groupId) {
    devicesTotal online offline pending decommissioned
    openIncidents acknowledgedIncidents criticalIncidents
    incidentsByType { type count }
    incidentsBySeverity { severity count }
  }
}
"""


async def incidents(client: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    data = await gql_data(client, INCIDENTS, variables, token=token)
    result: dict[str, Any] = data["incidents"]
    return result


async def build_history(services: Services, clock: FrozenClock) -> dict[str, uuid.UUID]:
    """Two stores; three incidents of different types and times; one of them resolved."""
    group = await make_group(services, {"storage_cap_bytes": 1000})
    berlin = await make_store(services, name="Berlin Mitte")
    paris = await make_store(services, timezone="Europe/Paris", name="Paris Nord")
    offline = await make_device(
        services, store_id=berlin, group_id=group, last_seen_at=T0 - timedelta(hours=1)
    )
    full = await make_device(
        services, store_id=paris, group_id=group, last_seen_at=T0, disk_used_bytes=950
    )
    await run_sweep(services)  # T0: OFFLINE_DURING_HOURS (berlin) + LOW_STORAGE (paris)

    clock.advance(timedelta(hours=1))
    await update_device(services, full, last_seen_at=clock.now(), disk_used_bytes=10)
    crashing = await make_device(
        services,
        store_id=paris,
        group_id=group,
        last_seen_at=clock.now(),
        counters_json={"crashes_1h": 4},
    )
    await run_sweep(services)  # T0+1h: LOW_STORAGE resolved, CRASH_LOOP opened (paris)
    return {
        "berlin": berlin,
        "paris": paris,
        "offline": offline,
        "full": full,
        "crashing": crashing,
        "group": group,
    }


async def test_incident_filters(
    api_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    ids = await build_history(services, clock)
    viewer = await create_user_and_token(services, Role.VIEWER)

    everything = await incidents(api_client, viewer.token)
    assert everything["totalCount"] == 3
    newest, *older = everything["nodes"]  # newest first; the older two share created_at
    assert newest["type"] == "CRASH_LOOP"
    assert sorted(n["type"] for n in older) == ["LOW_STORAGE", "OFFLINE_DURING_HOURS"]
    assert (newest["severity"], newest["status"]) == ("CRITICAL", "OPEN")
    assert newest["device"]["id"] == str(ids["crashing"])
    assert newest["store"] == {"id": str(ids["paris"]), "name": "Paris Nord"}

    async def types(**flt: Any) -> list[str]:
        page = await incidents(api_client, viewer.token, filter=flt)
        return sorted(n["type"] for n in page["nodes"])

    assert await types(resolved=False) == ["CRASH_LOOP", "OFFLINE_DURING_HOURS"]
    assert await types(resolved=True) == ["LOW_STORAGE"]
    assert await types(status="RESOLVED") == ["LOW_STORAGE"]
    assert await types(type="LOW_STORAGE") == ["LOW_STORAGE"]
    assert await types(storeId=str(ids["paris"])) == ["CRASH_LOOP", "LOW_STORAGE"]
    assert await types(deviceId=str(ids["offline"])) == ["OFFLINE_DURING_HOURS"]
    assert await types(storeId=str(ids["paris"]), resolved=False) == ["CRASH_LOOP"]
    hour_later = (T0 + timedelta(hours=1)).isoformat()
    assert await types(createdFrom=hour_later) == ["CRASH_LOOP"]
    assert await types(createdTo=hour_later) == ["LOW_STORAGE", "OFFLINE_DURING_HOURS"]
    assert await types(createdFrom=T0.isoformat(), createdTo=hour_later, resolved=False) == [
        "OFFLINE_DURING_HOURS"
    ]

    resolved = (await incidents(api_client, viewer.token, filter={"resolved": True}))["nodes"]
    assert resolved[0]["resolvedAt"] is not None
    assert resolved[0]["details"]["resolution"]["reason"] == "condition_cleared"


async def test_incident_pages_and_bad_input(
    api_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    await build_history(services, clock)
    viewer = await create_user_and_token(services, Role.VIEWER)

    page1 = await incidents(api_client, viewer.token, first=2)
    page2 = await incidents(api_client, viewer.token, first=2, after=page1["pageInfo"]["endCursor"])
    assert page1["pageInfo"]["hasNextPage"] and not page2["pageInfo"]["hasNextPage"]
    seen = [n["id"] for n in page1["nodes"] + page2["nodes"]]
    assert len(seen) == len(set(seen)) == 3

    too_big = await gql(api_client, INCIDENTS, {"first": 101}, token=viewer.token)
    assert "PAGE_SIZE_EXCEEDED" in error_codes(too_big)
    naive = await gql(
        api_client,
        INCIDENTS,
        {"filter": {"createdFrom": "2026-03-02T10:00:00"}},
        token=viewer.token,
    )
    assert error_codes(naive) == ["INVALID_FORMAT"]
    backwards = await gql(
        api_client,
        INCIDENTS,
        {"filter": {"createdFrom": T0.isoformat(), "createdTo": T0.isoformat()}},
        token=viewer.token,
    )
    assert error_codes(backwards) == ["INVALID_DATE_RANGE"]
    anonymous = await gql(api_client, INCIDENTS)
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]


async def test_fleet_overview_counts_match_the_rows(
    api_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    ids = await build_history(services, clock)
    await make_device(services, status="pending")
    viewer = await create_user_and_token(services, Role.VIEWER)

    overview = (await gql_data(api_client, OVERVIEW, token=viewer.token))["fleetOverview"]
    assert {k: overview[k] for k in ("devicesTotal", "online", "offline", "pending")} == {
        "devicesTotal": 4,
        "online": 2,
        "offline": 1,
        "pending": 1,
    }
    assert (overview["openIncidents"], overview["criticalIncidents"]) == (2, 2)
    by_type = {c["type"]: c["count"] for c in overview["incidentsByType"]}
    assert by_type == {
        "OFFLINE_DURING_HOURS": 1,
        "CRASH_LOOP": 1,
        "LOW_STORAGE": 0,
        "DOWNLOAD_FAIL": 0,
        "PLAYBACK_STUCK": 0,
    }

    paris = (
        await gql_data(api_client, OVERVIEW, {"storeId": str(ids["paris"])}, token=viewer.token)
    )["fleetOverview"]
    assert (paris["devicesTotal"], paris["online"], paris["openIncidents"]) == (2, 2, 1)
    group = (
        await gql_data(api_client, OVERVIEW, {"groupId": str(ids["group"])}, token=viewer.token)
    )["fleetOverview"]
    assert (group["devicesTotal"], group["offline"], group["openIncidents"]) == (3, 1, 2)
