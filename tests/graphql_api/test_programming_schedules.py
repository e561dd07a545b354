"""Schedules over real HTTP: typed rules, precise field paths, targets, filters, audit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import DeviceStatus, Role
from core.db.tables import audit_log, schedules
from tests.graphql_api.helpers import (
    ConsoleUser,
    create_user_and_token,
    gql,
    gql_data,
    insert_device,
    insert_group,
    insert_playlist,
    insert_store,
)

SCHEDULE = """
id name targetType targetId timezone priority validFrom validTo enabled
target { __typename ... on Device { id } ... on DeviceGroup { id name } }
playlist { id name }
campaign { id }
rules {
  dayparts { weekdays start end }
  dateRanges { start end }
  exclusions { start end }
  frequencyCaps { scope maxPlays perSeconds contentId }
}
"""
RESULT = f"""
    __typename
    ... on ScheduleSuccess {{ schedule {{ {SCHEDULE} }} }}
    ... on ValidationError {{ code field errors {{ field code message }} }}
    ... on Error {{ code field }}
"""
CREATE = f"mutation($input: ScheduleInput!) {{ createSchedule(input: $input) {{ {RESULT} }} }}"
UPDATE = f"""
mutation($id: UUID!, $input: ScheduleInput!) {{
  updateSchedule(id: $id, input: $input) {{ {RESULT} }}
}}
"""
ENABLE = f"""
mutation($id: UUID!, $enabled: Boolean!) {{
  setScheduleEnabled(id: $id, enabled: $enabled) {{ {RESULT} }}
}}
"""
DELETE = """
mutation($id: UUID!) {
  deleteSchedule(id: $id) { __typename ... on DeleteSuccess { id } ... on Error { code field } }
}
"""
LIST = """
query($filter: ScheduleFilter) { schedules(filter: $filter) { totalCount nodes { name } } }
"""
RULES = {
    "dayparts": [{"weekdays": [6, 5], "start": "22:00", "end": "02:00"}],
    "dateRanges": [{"start": "2026-03-01", "end": "2026-06-30"}],
    "exclusions": [{"start": "2026-04-05"}, {"start": "2026-05-01", "end": "2026-05-03"}],
    "frequencyCaps": [{"scope": "CAMPAIGN", "maxPlays": 6, "perSeconds": 3600}],
}


async def mutate(
    client: httpx.AsyncClient, user: ConsoleUser, query: str, **variables: Any
) -> dict[str, Any]:
    data = await gql_data(client, query, variables, token=user.token)
    [result] = data.values()
    assert isinstance(result, dict)
    return result


async def test_create_update_enable_delete(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    group_id = await insert_group(services, name="Entrance")
    store_id = await insert_store(services)
    device_id = await insert_device(services, store_id=store_id, group_id=group_id)
    playlist_id = await insert_playlist(services, name="Nights")
    base = {
        "name": "Late",
        "targetType": "GROUP",
        "targetId": str(group_id),
        "playlistId": str(playlist_id),
        "timezone": "America/New_York",
        "priority": 50,
        "rules": RULES,
        "validFrom": "2026-03-01",
    }
    created = (await mutate(api_client, user, CREATE, input=base))["schedule"]
    assert created["target"] == {
        "__typename": "DeviceGroup",
        "id": str(group_id),
        "name": "Entrance",
    }
    assert created["playlist"]["name"] == "Nights"
    assert created["rules"] == {
        "dayparts": [{"weekdays": [5, 6], "start": "22:00", "end": "02:00"}],
        "dateRanges": [{"start": "2026-03-01", "end": "2026-06-30"}],
        "exclusions": [
            {"start": "2026-04-05", "end": "2026-04-05"},
            {"start": "2026-05-01", "end": "2026-05-03"},
        ],
        "frequencyCaps": [
            {"scope": "CAMPAIGN", "maxPlays": 6, "perSeconds": 3600, "contentId": None}
        ],
    }
    moved = (
        await mutate(
            api_client,
            user,
            UPDATE,
            id=created["id"],
            input={**base, "targetType": "DEVICE", "targetId": str(device_id), "timezone": None},
        )
    )["schedule"]
    assert moved["target"] == {"__typename": "Device", "id": str(device_id)}
    assert moved["timezone"] is None  # the store's timezone applies
    disabled = (await mutate(api_client, user, ENABLE, id=created["id"], enabled=False))["schedule"]
    assert disabled["enabled"] is False
    assert (await mutate(api_client, user, DELETE, id=created["id"]))["id"] == created["id"]
    gone = await mutate(api_client, user, ENABLE, id=created["id"], enabled=True)
    assert (gone["__typename"], gone["field"]) == ("NotFoundError", "id")
    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log.c.action, audit_log.c.actor_user_id, audit_log.c.target_id)
                .where(audit_log.c.target_type == "schedule")
                .order_by(audit_log.c.id)
            )
        ).all()
    assert [r.action for r in rows] == [
        "schedule.create",
        "schedule.update",
        "schedule.disable",
        "schedule.delete",
    ]
    assert {(r.actor_user_id, r.target_id) for r in rows} == {(user.id, created["id"])}


async def test_validation_names_the_exact_input(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    group_id = await insert_group(services)
    playlist_id = await insert_playlist(services)
    bad = await mutate(
        api_client,
        user,
        CREATE,
        input={
            "targetType": "GROUP",
            "targetId": str(group_id),
            "playlistId": str(playlist_id),
            "timezone": "Europe/Atlantis",
            "priority": -2000,
            "validFrom": "2026-06-01",
            "validTo": "2026-05-01",
            "rules": {
                "dayparts": [
                    {"weekdays": [1], "start": "09:00", "end": "10:00"},
                    {"weekdays": [0, 1], "start": "9am", "end": "25:00"},
                ],
                "dateRanges": [{"start": "2026-03-01"}],
                "frequencyCaps": [{"scope": "ITEM", "maxPlays": 0, "perSeconds": 60}],
            },
        },
    )
    assert bad["__typename"] == "ValidationError"
    found = {(e["field"], e["code"]) for e in bad["errors"]}
    assert {
        ("timezone", "INVALID_TIMEZONE"),
        ("priority", "OUT_OF_RANGE"),
        ("validTo", "INVALID_DATE_RANGE"),
        ("rules.dayparts[1].weekdays[0]", "OUT_OF_RANGE"),
        ("rules.dayparts[1].start", "INVALID_TIME"),
        ("rules.dayparts[1].end", "INVALID_TIME"),
        ("rules.dateRanges[0].end", "REQUIRED"),
        ("rules.frequencyCaps[0].maxPlays", "OUT_OF_RANGE"),
    } <= found, found
    assert all(e["message"] for e in bad["errors"])

    for override, field in [
        ({"targetId": str(uuid.uuid4())}, "targetId"),
        ({"targetType": "DEVICE"}, "targetId"),
        ({"playlistId": str(uuid.uuid4())}, "playlistId"),
        ({"campaignId": str(uuid.uuid4())}, "campaignId"),
    ]:
        input = {
            "targetType": "GROUP",
            "targetId": str(group_id),
            "playlistId": str(playlist_id),
            **override,
        }
        missing = await mutate(api_client, user, CREATE, input=input)
        assert (missing["__typename"], missing["field"]) == ("NotFoundError", field)

    retired = await insert_device(services, status=DeviceStatus.DECOMMISSIONED.value)
    decommissioned = await mutate(
        api_client,
        user,
        CREATE,
        input={"targetType": "DEVICE", "targetId": str(retired), "playlistId": str(playlist_id)},
    )
    assert decommissioned["__typename"] == "ValidationError"
    assert decommissioned["field"] == "targetId"
    # A malformed date never reaches the resolver: a GraphQL error, not a 500.
    body = await gql(
        api_client,
        CREATE,
        {
            "input": {
                "targetType": "GROUP",
                "targetId": str(group_id),
                "playlistId": str(playlist_id),
                "validFrom": "2026-02-30",
            }
        },
        token=user.token,
    )
    assert body["errors"] and body.get("data") is None
    async with services.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(schedules))).scalar() == 0


async def test_list_filters(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    writer = await create_user_and_token(services, Role.OPERATOR)
    group_id = await insert_group(services)
    device_id = await insert_device(services)
    morning = await insert_playlist(services, name="Morning")
    evening = await insert_playlist(services, name="Evening")
    for name, target_type, target_id, playlist_id, enabled in [
        ("a", "GROUP", group_id, morning, True),
        ("b", "DEVICE", device_id, morning, False),
        ("c", "GROUP", group_id, evening, True),
    ]:
        await mutate(
            api_client,
            writer,
            CREATE,
            input={
                "name": name,
                "targetType": target_type,
                "targetId": str(target_id),
                "playlistId": str(playlist_id),
                "enabled": enabled,
            },
        )

    async def names(**flt: Any) -> list[str]:
        data = await gql_data(api_client, LIST, {"filter": flt}, token=user.token)
        return [n["name"] for n in data["schedules"]["nodes"]]

    assert await names() == ["a", "b", "c"]
    assert await names(targetType="GROUP") == ["a", "c"]
    assert await names(targetId=str(device_id)) == ["b"]
    assert await names(playlistId=str(evening)) == ["c"]
    assert await names(enabled=False) == ["b"]
