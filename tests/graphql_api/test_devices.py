"""Devices over real HTTP: list with filters, get, rename, assign one or many, decommission."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log, device_refresh_tokens, device_status_transitions, devices
from core.devices.token_epoch import REVOKED, current_epoch
from core.plans.changes import plan_inputs_channel
from tests.graphql_api.helpers import (
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    insert_device,
    insert_devices,
    insert_group,
    insert_store,
)

LIST = """
query($filter: DeviceFilter, $order: DeviceOrder! = CREATED_AT, $first: Int, $after: String) {
  devices(filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    nodes { name status store { name } group { name } }
  }
}
"""
ASSIGN_MANY = """
mutation($ids: [UUID!]!, $input: AssignDevicesInput!) {
  assignDevices(deviceIds: $ids, input: $input) {
    __typename
    ... on DevicesSuccess { devices { id storeId groupId } }
    ... on ValidationError { errors { field code } }
  }
}
"""
ASSIGN_ONE = """
mutation($id: UUID!, $input: AssignDevicesInput!) {
  assignDevice(id: $id, input: $input) {
    __typename
    ... on DeviceSuccess { device { id store { name } group { name } } }
    ... on ValidationError { errors { field code } }
  }
}
"""


async def _names(client: httpx.AsyncClient, token: str, **variables: Any) -> list[str | None]:
    data = await gql_data(client, LIST, variables, token=token)
    return [node["name"] for node in data["devices"]["nodes"]]


async def test_list_filters_by_store_group_status_and_text(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    store_a = await insert_store(services, name="A")
    store_b = await insert_store(services, name="B")
    group = await insert_group(services, name="G")
    await insert_device(services, external_name="Door left", store_id=store_a, group_id=group)
    await insert_device(services, external_name="Door right", store_id=store_a, status="offline")
    await insert_device(services, external_name="Till 50%_off", store_id=store_b)
    await insert_device(services, external_name="Old", status="decommissioned")
    await insert_device(services, external_name=None, status="pending")

    everything = await _names(api_client, user.token, order="NAME")
    assert everything == ["Door left", "Door right", "Till 50%_off", None]
    assert await _names(api_client, user.token, filter={"storeId": str(store_a)}, order="NAME") == [
        "Door left",
        "Door right",
    ]
    assert await _names(api_client, user.token, filter={"groupId": str(group)}) == ["Door left"]
    assert await _names(api_client, user.token, filter={"status": ["OFFLINE"]}) == ["Door right"]
    assert await _names(api_client, user.token, filter={"status": ["DECOMMISSIONED"]}) == ["Old"]
    assert await _names(api_client, user.token, filter={"search": "door"}, order="NAME") == [
        "Door left",
        "Door right",
    ]
    assert await _names(api_client, user.token, filter={"search": "50%_"}) == ["Till 50%_off"]
    assert await _names(api_client, user.token, filter={"search": "0_o"}) == []
    assert await _names(api_client, user.token, filter={"unassigned": True}, order="NAME") == [
        "Door right",
        "Till 50%_off",
        None,
    ]

    data = await gql_data(api_client, LIST, {"order": "NAME"}, token=user.token)
    nodes = data["devices"]["nodes"]
    assert nodes[0] == {
        "name": "Door left",
        "status": "ONLINE",
        "store": {"name": "A"},
        "group": {"name": "G"},
    }
    assert nodes[3] == {"name": None, "status": "PENDING", "store": None, "group": None}


async def test_get_device(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    device_id = await insert_device(
        services,
        external_name="Screen",
        device_info_json={"model": "X1"},
        disk_used_bytes=5 * 1024**3,
        counters_json={"crashes": 1},
    )
    query = """query($id: UUID!) {
      device(id: $id) { id name status deviceInfo diskUsedBytes counters nowPlaying }
    }"""
    data = await gql_data(api_client, query, {"id": str(device_id)}, token=user.token)
    assert data["device"] == {
        "id": str(device_id),
        "name": "Screen",
        "status": "ONLINE",
        "deviceInfo": {"model": "X1"},
        "diskUsedBytes": 5 * 1024**3,
        "counters": {"crashes": 1},
        "nowPlaying": None,
    }
    data = await gql_data(api_client, query, {"id": str(uuid.uuid4())}, token=user.token)
    assert data["device"] is None


async def test_rename_device(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    device_id = await insert_device(services, external_name="Before")
    rename = """mutation($id: UUID!, $name: String) {
      renameDevice(id: $id, name: $name) {
        __typename
        ... on DeviceSuccess { device { name } }
        ... on ValidationError { errors { field code } }
        ... on NotFoundError { field }
      }
    }"""
    data = await gql_data(
        api_client, rename, {"id": str(device_id), "name": " After "}, token=user.token
    )
    assert data["renameDevice"] == {"__typename": "DeviceSuccess", "device": {"name": "After"}}
    data = await gql_data(
        api_client, rename, {"id": str(device_id), "name": "x" * 300}, token=user.token
    )
    assert data["renameDevice"]["errors"] == [{"field": "name", "code": "TOO_LONG"}]
    data = await gql_data(
        api_client, rename, {"id": str(uuid.uuid4()), "name": "x"}, token=user.token
    )
    assert data["renameDevice"] == {"__typename": "NotFoundError", "field": "id"}
    data = await gql_data(api_client, rename, {"id": str(device_id), "name": ""}, token=user.token)
    assert data["renameDevice"]["device"] == {"name": None}
    async with services.engine.connect() as conn:
        audits = (await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).all()
    assert [(a.action, a.details_json) for a in audits] == [
        ("device.rename", {"before": {"name": "Before"}, "after": {"name": "After"}}),
        ("device.rename", {"before": {"name": "After"}, "after": {"name": None}}),
    ]


async def test_assign_many_devices_in_one_statement_and_audit_each(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    store_id = await insert_store(services, name="S")
    group_id = await insert_group(services, name="G")
    ids = await insert_devices(services, [{"external_name": f"d{i}"} for i in range(30)])

    pubsub = services.redis.pubsub()
    await pubsub.subscribe(plan_inputs_channel(services.keys))
    await pubsub.get_message(timeout=1)  # subscribe confirmation

    variables = {
        "ids": [str(i) for i in ids],
        "input": {"storeId": str(store_id), "groupId": str(group_id)},
    }
    data = await gql_data(api_client, ASSIGN_MANY, variables, token=user.token)
    result = data["assignDevices"]
    assert result["__typename"] == "DevicesSuccess"
    assert [d["id"] for d in result["devices"]] == [str(i) for i in ids]
    assert {(d["storeId"], d["groupId"]) for d in result["devices"]} == {
        (str(store_id), str(group_id))
    }
    async with services.engine.connect() as conn:
        audits = (await conn.execute(sa.select(audit_log))).all()
    assert len(audits) == 30
    assert {a.action for a in audits} == {"device.assign"}
    assert {a.target_id for a in audits} == {str(i) for i in ids}
    assert all(a.details_json["before"]["store_id"] is None for a in audits)
    assert all(a.details_json["after"]["store_id"] == str(store_id) for a in audits)

    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    assert message is not None and b'"kind":"device"' in message["data"]

    # Only the group changes when only the group is given; null unassigns.
    variables = {"ids": [str(ids[0])], "input": {"groupId": None}}
    data = await gql_data(api_client, ASSIGN_MANY, variables, token=user.token)
    assert data["assignDevices"]["devices"] == [
        {"id": str(ids[0]), "storeId": str(store_id), "groupId": None}
    ]


async def test_assign_is_all_or_nothing_with_positions(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    store_id = await insert_store(services)
    good = await insert_device(services)
    retired = await insert_device(services, status="decommissioned")
    missing = uuid.uuid4()
    variables = {
        "ids": [str(good), str(missing), str(retired)],
        "input": {"storeId": str(store_id), "groupId": str(uuid.uuid4())},
    }
    data = await gql_data(api_client, ASSIGN_MANY, variables, token=user.token)
    assert data["assignDevices"] == {
        "__typename": "ValidationError",
        "errors": [
            {"field": "groupId", "code": "NOT_FOUND"},
            {"field": "deviceIds[1]", "code": "NOT_FOUND"},
            {"field": "deviceIds[2]", "code": "INVALID"},
        ],
    }
    async with services.engine.connect() as conn:
        store_ids = (await conn.execute(sa.select(devices.c.store_id))).scalars().all()
        audit_count = await conn.execute(sa.select(sa.func.count()).select_from(audit_log))
    assert store_ids == [None, None]
    assert audit_count.scalar() == 0

    too_many = {"ids": [str(uuid.uuid4()) for _ in range(501)], "input": {"storeId": None}}
    data = await gql_data(api_client, ASSIGN_MANY, too_many, token=user.token)
    assert data["assignDevices"]["errors"] == [{"field": "deviceIds", "code": "TOO_MANY"}]
    data = await gql_data(api_client, ASSIGN_MANY, {"ids": [], "input": {}}, token=user.token)
    assert {e["code"] for e in data["assignDevices"]["errors"]} == {"REQUIRED"}


async def test_assign_one_device(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    store_id = await insert_store(services, name="Shop")
    group_id = await insert_group(services, name="Group")
    device_id = await insert_device(services)
    variables = {
        "id": str(device_id),
        "input": {"storeId": str(store_id), "groupId": str(group_id)},
    }
    data = await gql_data(api_client, ASSIGN_ONE, variables, token=user.token)
    assert data["assignDevice"]["device"] == {
        "id": str(device_id),
        "store": {"name": "Shop"},
        "group": {"name": "Group"},
    }
    variables = {"id": str(uuid.uuid4()), "input": {"storeId": str(store_id)}}
    data = await gql_data(api_client, ASSIGN_ONE, variables, token=user.token)
    assert data["assignDevice"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]


async def test_decommission_revokes_tokens_and_records_the_transition(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    device_id = await insert_device(services, token_epoch=3)
    async with services.uow() as uow:
        await uow.conn.execute(
            sa.insert(device_refresh_tokens).values(
                device_id=device_id,
                token_hash="h",
                family_id=uuid.uuid4(),
                expires_at=services.clock.now(),
            )
        )
        await uow.commit()
    mutation = """mutation($id: UUID!) {
      decommissionDevice(id: $id) {
        __typename
        ... on DeviceSuccess { device { status decommissionedAt } }
        ... on Error { code }
      }
    }"""
    data = await gql_data(api_client, mutation, {"id": str(device_id)}, token=user.token)
    assert data["decommissionDevice"]["__typename"] == "DeviceSuccess"
    assert data["decommissionDevice"]["device"]["status"] == "DECOMMISSIONED"
    assert data["decommissionDevice"]["device"]["decommissionedAt"] is not None

    async with services.engine.connect() as conn:
        row = (await conn.execute(sa.select(devices))).one()
        refresh = (await conn.execute(sa.select(device_refresh_tokens))).one()
        transition = (await conn.execute(sa.select(device_status_transitions))).one()
        audit = (await conn.execute(sa.select(audit_log))).one()
        epoch = await current_epoch(conn, services.redis, services.keys, device_id)
    assert row.token_epoch == 4 and row.status == "decommissioned"
    assert refresh.revoked_at is not None
    assert (transition.from_status, transition.to_status) == ("online", "decommissioned")
    assert audit.action == "device.decommission"
    assert epoch == REVOKED  # the edge refuses its tokens from now on

    again = await gql_data(api_client, mutation, {"id": str(device_id)}, token=user.token)
    assert again["decommissionDevice"] == {"__typename": "ConflictError", "code": "CONFLICT"}


async def test_concurrent_assignments_stay_consistent(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    stores_ = [await insert_store(services, name=f"S{i}") for i in range(4)]
    ids = await insert_devices(services, [{"external_name": f"d{i}"} for i in range(20)])
    calls = [
        gql(
            api_client,
            ASSIGN_MANY,
            {"ids": [str(i) for i in ids], "input": {"storeId": str(store)}},
            token=user.token,
        )
        for store in stores_
    ]
    results = await asyncio.gather(*calls)
    assert all(r["data"]["assignDevices"]["__typename"] == "DevicesSuccess" for r in results)
    async with services.engine.connect() as conn:
        assigned = set((await conn.execute(sa.select(devices.c.store_id))).scalars().all())
        audit_count = (
            await conn.execute(sa.select(sa.func.count()).select_from(audit_log))
        ).scalar()
    assert len(assigned) == 1  # every device ended in the same store: no interleaving
    assert audit_count == 80


async def test_invalid_inputs_give_errors_not_500(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    body = await gql(api_client, ASSIGN_MANY, {"ids": ["nope"], "input": {}}, token=user.token)
    assert error_codes(body) == ["VALIDATION_ERROR"]
    body = await gql(api_client, LIST, {"filter": {"status": ["SLEEPING"]}}, token=user.token)
    assert error_codes(body) == ["VALIDATION_ERROR"]
