"""Device groups over real HTTP: policy defaults and validation, uniqueness, deletion rules."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role, TargetType
from core.db.tables import audit_log, device_groups, schedules
from tests.graphql_api.helpers import (
    create_user_and_token,
    gql_data,
    insert_device,
    insert_group,
    insert_playlist,
)

GROUP = """
  id name defaultPlaylistId deviceCount
  policy { heartbeatIntervalSeconds offlineThresholdSeconds storageCapBytes }
"""
CREATE = f"""
mutation($input: CreateDeviceGroupInput!) {{
  createDeviceGroup(input: $input) {{
    __typename
    ... on DeviceGroupSuccess {{ group {{ {GROUP} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on ConflictError {{ code field }}
  }}
}}
"""
UPDATE = f"""
mutation($id: UUID!, $input: UpdateDeviceGroupInput!) {{
  updateDeviceGroup(id: $id, input: $input) {{
    __typename
    ... on DeviceGroupSuccess {{ group {{ {GROUP} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on Error {{ code field }}
  }}
}}
"""
DELETE = """
mutation($id: UUID!) {
  deleteDeviceGroup(id: $id) { __typename ... on Error { code } ... on DeleteSuccess { id } }
}
"""


async def _create(client: httpx.AsyncClient, token: str, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql_data(client, CREATE, {"input": input}, token=token))[
        "createDeviceGroup"
    ]
    return result


async def test_create_group_with_defaults_and_policy(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    default = await _create(api_client, user.token, name="Lobby screens")
    assert default["group"]["policy"] == {
        "heartbeatIntervalSeconds": 60,
        "offlineThresholdSeconds": 180,
        "storageCapBytes": None,
    }
    playlist_id = await insert_playlist(services, name="Fallback loop")
    custom = await _create(
        api_client,
        user.token,
        name="Windows",
        heartbeatIntervalSeconds=30,
        storageCapBytes=64 * 1024**3,  # above 2^31: needs BigInt
        defaultPlaylistId=str(playlist_id),
    )
    group = custom["group"]
    assert group["policy"] == {
        "heartbeatIntervalSeconds": 30,
        "offlineThresholdSeconds": 90,
        "storageCapBytes": 64 * 1024**3,
    }
    assert group["defaultPlaylistId"] == str(playlist_id)
    assert group["deviceCount"] == 0
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(device_groups).where(device_groups.c.name == "Windows"))
        ).one()
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert row.policy_json == {
        "heartbeat_interval_s": 30,
        "offline_threshold_s": 90,
        "storage_cap_bytes": 64 * 1024**3,
    }
    assert actions == ["group.create", "group.create"]


async def test_group_validation_errors(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    result = await _create(
        api_client,
        user.token,
        name="",
        heartbeatIntervalSeconds=5,
        offlineThresholdSeconds=4,
        storageCapBytes=10,
        defaultPlaylistId="00000000-0000-0000-0000-0000000000aa",
    )
    assert result["__typename"] == "ValidationError"
    assert {(e["field"], e["code"]) for e in result["errors"]} == {
        ("name", "REQUIRED"),
        ("heartbeatIntervalSeconds", "OUT_OF_RANGE"),
        ("offlineThresholdSeconds", "OUT_OF_RANGE"),
        ("storageCapBytes", "OUT_OF_RANGE"),
        ("defaultPlaylistId", "NOT_FOUND"),
    }


async def test_group_names_are_unique(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    await _create(api_client, user.token, name="Menu boards")
    again = await _create(api_client, user.token, name="Menu boards")
    assert again == {"__typename": "ConflictError", "code": "DUPLICATE", "field": "name"}

    other = await insert_group(services, name="Other")
    data = await gql_data(
        api_client, UPDATE, {"id": str(other), "input": {"name": "Menu boards"}}, token=user.token
    )
    assert data["updateDeviceGroup"] == {
        "__typename": "ConflictError",
        "code": "DUPLICATE",
        "field": "name",
    }


async def test_threshold_follows_interval_until_set_explicitly(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    group_id = (await _create(api_client, user.token, name="G"))["group"]["id"]

    async def update(**input: Any) -> dict[str, Any]:
        data = await gql_data(
            api_client, UPDATE, {"id": group_id, "input": input}, token=user.token
        )
        result: dict[str, Any] = data["updateDeviceGroup"]
        return result

    policy = (await update(heartbeatIntervalSeconds=120))["group"]["policy"]
    assert policy["offlineThresholdSeconds"] == 360
    policy = (await update(offlineThresholdSeconds=1000))["group"]["policy"]
    assert policy["offlineThresholdSeconds"] == 1000
    policy = (await update(heartbeatIntervalSeconds=100))["group"]["policy"]
    assert policy["offlineThresholdSeconds"] == 1000  # explicit value kept
    policy = (await update(offlineThresholdSeconds=None, storageCapBytes=2**30))["group"]["policy"]
    assert policy == {
        "heartbeatIntervalSeconds": 100,
        "offlineThresholdSeconds": 300,
        "storageCapBytes": 2**30,
    }
    policy = (await update(storageCapBytes=None))["group"]["policy"]
    assert policy["storageCapBytes"] is None
    bad = await update(heartbeatIntervalSeconds=600, offlineThresholdSeconds=600)
    assert bad["errors"] == [{"field": "offlineThresholdSeconds", "code": "OUT_OF_RANGE"}]


async def test_default_playlist_can_be_set_and_cleared(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    group_id = await insert_group(services)
    playlist_id = await insert_playlist(services)
    variables = {"id": str(group_id), "input": {"defaultPlaylistId": str(playlist_id)}}
    data = await gql_data(api_client, UPDATE, variables, token=user.token)
    assert data["updateDeviceGroup"]["group"]["defaultPlaylistId"] == str(playlist_id)
    variables = {"id": str(group_id), "input": {"defaultPlaylistId": None}}
    data = await gql_data(api_client, UPDATE, variables, token=user.token)
    assert data["updateDeviceGroup"]["group"]["defaultPlaylistId"] is None
    async with services.engine.connect() as conn:
        audits = (await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).all()
    assert [a.action for a in audits] == ["group.update", "group.update"]
    assert audits[0].details_json["after"]["default_playlist_id"] == str(playlist_id)
    assert audits[1].details_json["before"]["default_playlist_id"] == str(playlist_id)


async def test_delete_group_refuses_with_devices_or_schedules(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    with_device = await insert_group(services)
    await insert_device(services, group_id=with_device)
    with_schedule = await insert_group(services)
    playlist_id = await insert_playlist(services)
    async with services.uow() as uow:
        await uow.conn.execute(
            sa.insert(schedules).values(
                target_type=TargetType.GROUP.value, target_id=with_schedule, playlist_id=playlist_id
            )
        )
        await uow.commit()
    empty = await insert_group(services)
    for group_id in (with_device, with_schedule):
        data = await gql_data(api_client, DELETE, {"id": str(group_id)}, token=user.token)
        assert data["deleteDeviceGroup"] == {"__typename": "ConflictError", "code": "IN_USE"}
    data = await gql_data(api_client, DELETE, {"id": str(empty)}, token=user.token)
    assert data["deleteDeviceGroup"] == {"__typename": "DeleteSuccess", "id": str(empty)}
    data = await gql_data(api_client, DELETE, {"id": str(empty)}, token=user.token)
    assert data["deleteDeviceGroup"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}


async def test_list_groups_by_name(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    for name in ("beta", "Alpha", "gamma"):
        await insert_group(services, name=name)
    query = "query($f: DeviceGroupFilter) { deviceGroups(filter: $f) { nodes { name } } }"
    data = await gql_data(api_client, query, {}, token=user.token)
    assert [n["name"] for n in data["deviceGroups"]["nodes"]] == ["Alpha", "beta", "gamma"]
    data = await gql_data(api_client, query, {"f": {"search": "AMM"}}, token=user.token)
    assert [n["name"] for n in data["deviceGroups"]["nodes"]] == ["gamma"]
