"""The auditLog query: filters by actor, target, action and time range; newest first; paging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log
from tests.graphql_api.helpers import (
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    insert_device,
)

AUDIT = """
query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { action actorType actorUserId actorEmail targetType targetId before after details
            clientIp createdAt }
  }
}
"""
CREATE_STORE = """
mutation($name: String!) {
  createStore(input: {name: $name, timezone: "UTC"}) {
    ... on StoreSuccess { store { id } }
  }
}
"""
UPDATE_STORE = """
mutation($id: UUID!, $name: String!) {
  updateStore(id: $id, input: {name: $name}) { __typename }
}
"""


async def _log(client: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    data = await gql_data(client, AUDIT, variables, token=token)
    result: dict[str, Any] = data["auditLog"]
    return result


async def test_changes_appear_in_the_audit_log_with_filters(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    operator = await create_user_and_token(services, Role.OPERATOR)
    viewer = await create_user_and_token(services, Role.VIEWER)

    created = await gql_data(api_client, CREATE_STORE, {"name": "One"}, token=operator.token)
    store_id = created["createStore"]["store"]["id"]
    await gql_data(api_client, UPDATE_STORE, {"id": store_id, "name": "Uno"}, token=admin.token)
    await gql_data(api_client, CREATE_STORE, {"name": "Two"}, token=admin.token)
    device_id = await insert_device(services)
    await gql_data(
        api_client,
        'mutation($id: UUID!) { renameDevice(id: $id, name: "Screen") { __typename } }',
        {"id": str(device_id)},
        token=operator.token,
    )

    everything = await _log(api_client, viewer.token)
    assert everything["totalCount"] == 4
    assert [n["action"] for n in everything["nodes"]] == [
        "device.rename",
        "store.create",
        "store.update",
        "store.create",
    ]
    update = everything["nodes"][2]
    assert update["actorEmail"] == admin.email and update["actorType"] == "USER"
    assert update["before"]["name"] == "One" and update["after"]["name"] == "Uno"
    assert update["clientIp"] is None  # only admins see addresses

    by_target = await _log(
        api_client, viewer.token, filter={"targetType": "store", "targetId": store_id}
    )
    assert [n["action"] for n in by_target["nodes"]] == ["store.update", "store.create"]
    by_actor = await _log(api_client, viewer.token, filter={"actorUserId": str(operator.id)})
    assert [n["action"] for n in by_actor["nodes"]] == ["device.rename", "store.create"]
    by_action = await _log(api_client, viewer.token, filter={"action": "store.create"})
    assert by_action["totalCount"] == 2
    by_prefix = await _log(api_client, viewer.token, filter={"action": "store."})
    assert by_prefix["totalCount"] == 3
    assert (await _log(api_client, viewer.token, filter={"action": "store"}))["totalCount"] == 0

    as_admin = await _log(api_client, admin.token, first=1)
    assert as_admin["nodes"][0]["clientIp"] == "127.0.0.1"


async def test_time_range_and_paging_newest_first(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    async with services.uow() as uow:
        await uow.conn.execute(
            sa.insert(audit_log),
            [
                {
                    "actor_type": "SYSTEM",
                    "action": f"test.event{day}",
                    "target_type": "thing",
                    "target_id": str(day),
                    "created_at": datetime(2026, 1, day, 12, tzinfo=UTC),
                }
                for day in range(1, 11)
            ],
        )
        await uow.commit()
    window = {"since": "2026-01-03T12:00:00Z", "until": "2026-01-06T12:00:00+00:00"}
    result = await _log(api_client, viewer.token, filter=window)
    assert [n["targetId"] for n in result["nodes"]] == ["5", "4", "3"]

    seen: list[str] = []
    after = None
    while True:
        page = await _log(api_client, viewer.token, first=3, after=after)
        seen += [n["targetId"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [str(day) for day in range(10, 0, -1)]


async def test_invalid_audit_filters_are_errors_not_500(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    body = await gql(
        api_client,
        AUDIT,
        {"filter": {"since": "2026-01-05T00:00:00Z", "until": "2026-01-01T00:00:00Z"}},
        token=viewer.token,
    )
    assert error_codes(body) == ["INVALID_DATE_RANGE"]
    assert body["errors"][0]["extensions"]["field"] == "until"
    body = await gql(api_client, AUDIT, {"filter": {"targetId": "x"}}, token=viewer.token)
    assert error_codes(body) == ["REQUIRED"]
    body = await gql(api_client, AUDIT, {"filter": {"since": "yesterday"}}, token=viewer.token)
    assert error_codes(body) == ["VALIDATION_ERROR"]
    body = await gql(
        api_client, AUDIT, {"filter": {"since": "2026-01-01T00:00:00"}}, token=viewer.token
    )
    assert error_codes(body) == ["INVALID_FORMAT"]  # core.inputs: a date-time needs an offset
