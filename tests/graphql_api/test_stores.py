"""Stores over real HTTP: create, list, update, delete, with field-level validation."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log, stores
from tests.graphql_api.helpers import (
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    insert_device,
    insert_store,
)

STORE_FIELDS = """
  id name city area address timezone
  openingHours { mon { open close } tue { open close } sat { open close } sun { open close } }
"""

CREATE = f"""
mutation Create($input: CreateStoreInput!) {{
  createStore(input: $input) {{
    __typename
    ... on StoreSuccess {{ store {{ {STORE_FIELDS} }} }}
    ... on ValidationError {{ code field message errors {{ field code message }} }}
    ... on PermissionDeniedError {{ code }}
  }}
}}
"""

UPDATE = f"""
mutation Update($id: UUID!, $input: UpdateStoreInput!) {{
  updateStore(id: $id, input: $input) {{
    __typename
    ... on StoreSuccess {{ store {{ {STORE_FIELDS} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on NotFoundError {{ code field }}
  }}
}}
"""

DELETE = """
mutation Delete($id: UUID!) {
  deleteStore(id: $id) {
    __typename
    ... on DeleteSuccess { id }
    ... on Error { code field message }
  }
}
"""


async def _create(client: httpx.AsyncClient, token: str, **input: Any) -> dict[str, Any]:
    data = await gql_data(client, CREATE, {"input": input}, token=token)
    result: dict[str, Any] = data["createStore"]
    return result


async def test_create_store_with_overnight_hours_and_closed_days(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    result = await _create(
        api_client,
        user.token,
        name="  Alexanderplatz  ",
        city="Berlin",
        area="Mitte",
        address="Alexanderplatz 1\n10178 Berlin",
        timezone="Europe/Berlin",
        openingHours={
            "mon": [{"open": "09:00", "close": "13:00"}, {"open": "14:00", "close": "20:00"}],
            "sat": [{"open": "22:00", "close": "02:00"}],
            "sun": [],
        },
    )
    assert result["__typename"] == "StoreSuccess", result
    store = result["store"]
    assert store["name"] == "Alexanderplatz"
    assert store["address"] == "Alexanderplatz 1\n10178 Berlin"
    assert store["openingHours"] == {
        "mon": [{"open": "09:00", "close": "13:00"}, {"open": "14:00", "close": "20:00"}],
        "tue": [],
        "sat": [{"open": "22:00", "close": "02:00"}],
        "sun": [],
    }
    async with services.engine.connect() as conn:
        row = (await conn.execute(sa.select(stores))).one()
        audit = (await conn.execute(sa.select(audit_log))).one()
    assert row.operating_hours_json["wed"] == []
    assert audit.action == "store.create" and audit.target_id == store["id"]
    assert audit.actor_user_id == user.id
    assert audit.details_json["after"]["name"] == "Alexanderplatz"


async def test_store_validation_reports_every_field(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    result = await _create(
        api_client,
        user.token,
        name="   ",
        city="x" * 201,
        timezone="Mars/Olympus_Mons",
        openingHours={
            "mon": [{"open": "9:00", "close": "25:00"}],
            "tue": [{"open": "10:00", "close": "10:00"}],
            "wed": [{"open": "08:00", "close": "12:00"}, {"open": "11:00", "close": "18:00"}],
            # Sunday night runs into Monday 00:00-03:00 and collides with Monday's... nothing
            # (Monday is invalid above), so use Friday night into Saturday instead.
            "fri": [{"open": "20:00", "close": "04:00"}],
            "sat": [{"open": "03:00", "close": "10:00"}],
        },
    )
    assert result["__typename"] == "ValidationError"
    assert result["code"] == "REQUIRED" and result["field"] == "name"
    fields = {(e["field"], e["code"]) for e in result["errors"]}
    assert fields == {
        ("name", "REQUIRED"),
        ("city", "TOO_LONG"),
        ("timezone", "INVALID_TIMEZONE"),
        ("openingHours.mon[0].open", "INVALID_TIME"),
        ("openingHours.mon[0].close", "INVALID_TIME"),
        ("openingHours.tue[0].close", "INVALID_TIME"),
        ("openingHours.wed[1].open", "OVERLAP"),
        ("openingHours.sat[0].open", "OVERLAP"),
    }
    async with services.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(stores))).scalar() == 0
        assert (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar() == 0


async def test_sunday_night_overlapping_monday_morning_is_rejected(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    result = await _create(
        api_client,
        user.token,
        name="Night shop",
        timezone="UTC",
        openingHours={
            "sun": [{"open": "20:00", "close": "06:00"}],
            "mon": [{"open": "05:00", "close": "12:00"}],
        },
    )
    assert result["__typename"] == "ValidationError"
    assert [(e["field"], e["code"]) for e in result["errors"]] == [
        ("openingHours.mon[0].open", "OVERLAP")
    ]


async def test_all_day_and_until_midnight_are_accepted(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    result = await _create(
        api_client,
        user.token,
        name="Always open",
        timezone="America/New_York",
        openingHours={
            "mon": [{"open": "00:00", "close": "24:00"}],
            "tue": [{"open": "00:00", "close": "24:00"}],
            "sat": [{"open": "18:00", "close": "24:00"}],
            "sun": [{"open": "00:00", "close": "02:00"}],
        },
    )
    assert result["__typename"] == "StoreSuccess", result


async def test_update_changes_only_given_fields_and_audits_before_after(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    store_id = await insert_store(services, name="Old", city="Hamburg", area="Nord")
    data = await gql_data(
        api_client,
        UPDATE,
        {"id": str(store_id), "input": {"name": "New", "area": None}},
        token=user.token,
    )
    store = data["updateStore"]["store"]
    assert (store["name"], store["city"], store["area"]) == ("New", "Hamburg", None)
    assert store["timezone"] == "Europe/Berlin"

    async with services.engine.connect() as conn:
        audit = (await conn.execute(sa.select(audit_log))).one()
    assert audit.action == "store.update"
    assert audit.details_json["before"]["name"] == "Old"
    assert audit.details_json["after"]["name"] == "New"
    assert audit.details_json["before"]["area"] == "Nord"
    assert audit.details_json["after"]["area"] is None


async def test_update_rejects_null_name_and_bad_timezone_and_unknown_id(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    store_id = await insert_store(services)
    data = await gql_data(
        api_client,
        UPDATE,
        {"id": str(store_id), "input": {"name": None, "timezone": "Europe/Nowhere"}},
        token=user.token,
    )
    assert data["updateStore"] == {
        "__typename": "ValidationError",
        "errors": [
            {"field": "name", "code": "REQUIRED"},
            {"field": "timezone", "code": "INVALID_TIMEZONE"},
        ],
    }
    missing = "00000000-0000-0000-0000-000000000001"
    data = await gql_data(
        api_client, UPDATE, {"id": missing, "input": {"name": "x"}}, token=user.token
    )
    assert data["updateStore"] == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
        "field": "id",
    }


async def test_delete_store_refuses_while_devices_are_assigned(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    store_id = await insert_store(services)
    await insert_device(services, store_id=store_id)
    data = await gql_data(api_client, DELETE, {"id": str(store_id)}, token=user.token)
    assert data["deleteStore"]["__typename"] == "ConflictError"
    assert data["deleteStore"]["code"] == "IN_USE"

    empty_id = await insert_store(services)
    data = await gql_data(api_client, DELETE, {"id": str(empty_id)}, token=user.token)
    assert data["deleteStore"] == {"__typename": "DeleteSuccess", "id": str(empty_id)}
    async with services.engine.connect() as conn:
        remaining = (await conn.execute(sa.select(stores.c.id))).scalars().all()
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert remaining == [store_id]
    assert actions == ["store.delete"]


async def test_list_stores_by_name_with_search_and_device_count(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    berlin = await insert_store(services, name="berlin mitte", city="Berlin")
    await insert_store(services, name="Bremen", city="Bremen")
    await insert_store(services, name="Aachen", city="Aachen")
    await insert_device(services, store_id=berlin)
    await insert_device(services, store_id=berlin)
    await insert_device(services, store_id=berlin, status="decommissioned")
    query = """
      query($filter: StoreFilter) {
        stores(filter: $filter) { totalCount nodes { name deviceCount } }
      }
    """
    data = await gql_data(api_client, query, {}, token=user.token)
    assert data["stores"]["nodes"] == [
        {"name": "Aachen", "deviceCount": 0},
        {"name": "berlin mitte", "deviceCount": 2},
        {"name": "Bremen", "deviceCount": 0},
    ]
    data = await gql_data(api_client, query, {"filter": {"search": "BER"}}, token=user.token)
    assert [n["name"] for n in data["stores"]["nodes"]] == ["berlin mitte"]
    assert data["stores"]["totalCount"] == 1
    data = await gql_data(api_client, query, {"filter": {"search": "%"}}, token=user.token)
    assert data["stores"]["nodes"] == []


async def test_single_store_query(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    store_id = await insert_store(services, name="One")
    query = "query($id: UUID!) { store(id: $id) { name } }"
    data = await gql_data(api_client, query, {"id": str(store_id)}, token=user.token)
    assert data["store"] == {"name": "One"}
    missing = "00000000-0000-0000-0000-000000000002"
    assert (await gql_data(api_client, query, {"id": missing}, token=user.token))["store"] is None
    body = await gql(api_client, query, {"id": "not-a-uuid"}, token=user.token)
    assert body["data"] is None and error_codes(body) == ["VALIDATION_ERROR"]
