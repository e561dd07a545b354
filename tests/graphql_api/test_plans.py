"""Plans in the console: devicePlan, planPreview and explainPlan."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from core.bootstrap import Services
from core.db.enums import Role, TargetType
from core.plans import regenerate
from tests.graphql_api.helpers import create_user_and_token, error_codes, gql, gql_data
from tests.plans.builders import (
    WEEKDAYS_9_TO_17,
    Item,
    add_campaign,
    add_content,
    add_devices,
    add_group,
    add_playlist,
    add_schedule,
    add_store,
    make_world,
    plan_rows,
)

DEVICE_PLAN = """
query ($id: UUID!) {
  devicePlan(deviceId: $id) {
    deviceId generatedAt inputsHash
    plan {
      etag validFrom validTo timezone planJson
      windows {
        start end utcOffsetMinutes fallback scheduleIds
        items { contentId version url weight scheduleId }
      }
      caps { id scope maxPlays perSeconds }
    }
  }
}
"""

PREVIEW = """
query ($device: UUID, $group: UUID, $from: DateTime!, $to: DateTime!, $tz: String) {
  planPreview(deviceId: $device, groupId: $group, from: $from, to: $to, timezone: $tz) {
    timezone deviceCount
    plan { etag validFrom validTo windows { start end fallback scheduleIds items { contentId } } }
  }
}
"""

EXPLAIN = """
query ($id: UUID!, $at: DateTime!) {
  explainPlan(deviceId: $id, at: $at) {
    at playing fallbackPlaylistId
    verdicts {
      scheduleId outcome playing priority targetType timezone localTime detail against
      caps { scope maxPlays perSeconds }
      schedule { id }
    }
  }
}
"""


async def reader(services: Services) -> str:
    return (await create_user_and_token(services, Role.VIEWER)).token


async def test_device_plan_is_the_stored_plan(
    services: Services, api_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    [device] = world.device_ids
    token = await reader(services)
    data = await gql_data(api_client, DEVICE_PLAN, {"id": str(device)}, token=token)
    assert data["devicePlan"] is None  # never generated yet; reading does not generate

    await regenerate(services, [device])
    row = (await plan_rows(services))[device]
    plan = (await gql_data(api_client, DEVICE_PLAN, {"id": str(device)}, token=token))["devicePlan"]
    assert plan["deviceId"] == str(device) and plan["inputsHash"] == row.inputs_hash
    assert plan["plan"]["etag"] == row.etag
    assert plan["plan"]["planJson"] == row.plan_json
    assert plan["plan"]["timezone"] == "Europe/Berlin"
    monday = plan["plan"]["windows"][1]
    assert monday["start"].startswith("2026-03-02T08:00:00")
    assert monday["scheduleIds"] == [str(world.schedule_id)] and not monday["fallback"]
    assert monday["items"][0]["contentId"] == str(world.promo_content)
    assert plan["plan"]["windows"][0]["fallback"] is True


async def test_preview_of_a_device_over_any_range_is_not_stored(
    services: Services, api_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    token = await reader(services)
    variables = {
        "device": str(world.device_ids[0]),
        "from": "2026-04-06T00:00:00+02:00",  # a Monday in Berlin, after the DST change
        "to": "2026-04-08T00:00:00+02:00",
    }
    [preview] = (await gql_data(api_client, PREVIEW, variables, token=token))["planPreview"]
    assert preview["timezone"] == "Europe/Berlin" and preview["deviceCount"] == 1
    windows = preview["plan"]["windows"]
    assert preview["plan"]["validFrom"].startswith("2026-04-05T22:00:00")
    scheduled = [(w["start"][:19], w["end"][:19]) for w in windows if not w["fallback"]]
    # 09:00-17:00 Berlin summer time is 07:00-15:00 UTC.
    assert scheduled == [
        ("2026-04-06T07:00:00", "2026-04-06T15:00:00"),
        ("2026-04-07T07:00:00", "2026-04-07T15:00:00"),
    ]
    assert await plan_rows(services) == {}


async def test_preview_of_a_group_is_given_per_store_timezone(
    services: Services, api_client: httpx.AsyncClient
) -> None:
    clip, _ = await add_content(services)
    playlist = await add_playlist(services, Item(clip))
    group = await add_group(services)
    await add_schedule(
        services,
        target_type=TargetType.GROUP,
        target_id=group,
        playlist_id=playlist,
        rules=WEEKDAYS_9_TO_17,
    )
    berlin, tokyo = await add_store(services), await add_store(services, "Asia/Tokyo")
    await add_devices(services, 2, store_id=berlin, group_id=group)
    await add_devices(services, 3, store_id=tokyo, group_id=group)
    token = await reader(services)
    span = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
    previews = (await gql_data(api_client, PREVIEW, {"group": str(group), **span}, token=token))[
        "planPreview"
    ]
    by_zone = {p["timezone"]: p for p in previews}
    assert {z: p["deviceCount"] for z, p in by_zone.items()} == {
        "Asia/Tokyo": 3,
        "Europe/Berlin": 2,
    }
    [tokyo_window] = by_zone["Asia/Tokyo"]["plan"]["windows"]
    assert tokyo_window["start"].startswith("2026-03-02T00:00:00")  # 09:00 JST
    assert tokyo_window["end"].startswith("2026-03-02T08:00:00")

    empty = await add_group(services)
    [alone] = (
        await gql_data(
            api_client,
            PREVIEW,
            {"group": str(empty), "tz": "America/New_York", **span},
            token=token,
        )
    )["planPreview"]
    assert alone["timezone"] == "America/New_York" and alone["deviceCount"] == 0
    assert alone["plan"]["windows"] == []


async def test_preview_input_is_validated(
    services: Services, api_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    token = await reader(services)
    device, group = str(world.device_ids[0]), str(world.group_id)
    span = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"device": device, "group": group, **span}, "INVALID"),
        (span, "INVALID"),
        ({"device": device, "from": span["to"], "to": span["from"]}, "INVALID_DATE_RANGE"),
        (
            {"device": device, "from": "2026-03-01T00:00:00Z", "to": "2026-04-05T00:00:00Z"},
            "OUT_OF_RANGE",
        ),
        ({"device": device, "from": "2026-03-01T00:00:00", "to": span["to"]}, "INVALID_FORMAT"),
        ({"group": group, "tz": "Mars/Olympus", **span}, "INVALID_TIMEZONE"),
        ({"device": "00000000-0000-0000-0000-000000000001", **span}, "NOT_FOUND"),
    ]
    for variables, code in cases:
        body = await gql(api_client, PREVIEW, variables, token=token)
        assert error_codes(body) == [code], (variables, body)


async def test_explain_says_why_each_candidate_wins_or_loses(
    services: Services, api_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 2)
    device = world.device_ids[0]
    clip, _ = await add_content(services, "other")
    other = await add_playlist(services, Item(clip))
    old_campaign = await add_campaign(services, date(2025, 1, 1), date(2025, 12, 31))

    async def schedule(**values: Any) -> str:
        values.setdefault("target_type", TargetType.GROUP)
        values.setdefault("target_id", world.group_id)
        values.setdefault("playlist_id", other)
        return str(await add_schedule(services, **values))

    own = await schedule(
        target_type=TargetType.DEVICE,
        target_id=device,
        priority=5,
        rules={
            "dayparts": [{"weekdays": [1], "start": "10:00", "end": "12:00"}],
            "frequency_caps": [{"scope": "ITEM", "max_plays": 2, "per_seconds": 3600}],
        },
    )
    same_priority_group = await schedule(
        priority=5, rules={"dayparts": [{"weekdays": [1], "start": "10:00", "end": "12:00"}]}
    )
    disabled = await schedule(priority=9, enabled=False)
    excluded = await schedule(priority=9, rules={"exclusions": ["2026-03-02"]})
    expired = await schedule(priority=9, valid_to=date(2026, 2, 1))
    out_of_campaign = await schedule(priority=9, campaign_id=old_campaign)
    evening = await schedule(
        priority=9, rules={"dayparts": [{"weekdays": [1], "start": "18:00", "end": "20:00"}]}
    )
    token = await reader(services)
    data = await gql_data(
        api_client, EXPLAIN, {"id": str(device), "at": "2026-03-02T10:30:00Z"}, token=token
    )
    explained = data["explainPlan"]
    assert explained["playing"] == [own] and explained["fallbackPlaylistId"] is None
    verdicts = {v["scheduleId"]: v for v in explained["verdicts"]}
    assert {k: v["outcome"] for k, v in verdicts.items()} == {
        own: "WON",
        same_priority_group: "LOST_SPECIFICITY",
        str(world.schedule_id): "LOST_PRIORITY",
        disabled: "DISABLED",
        excluded: "EXCLUDED",
        expired: "OUTSIDE_DATES",
        out_of_campaign: "OUTSIDE_CAMPAIGN",
        evening: "OUTSIDE_DAYPART",
    }
    winner = verdicts[own]
    assert winner["playing"] is True and winner["targetType"] == "DEVICE"
    assert winner["timezone"] == "Europe/Berlin"
    assert winner["localTime"].startswith("2026-03-02T11:30:00+01:00")
    assert winner["caps"] == [{"scope": "ITEM", "maxPlays": 2, "perSeconds": 3600}]
    assert winner["schedule"] == {"id": own}
    assert verdicts[str(world.schedule_id)]["against"] == [own]
    assert verdicts[str(world.schedule_id)]["playing"] is False

    # Monday 21:00 in Berlin nothing is scheduled: the group's default playlist plays.
    night = (
        await gql_data(
            api_client, EXPLAIN, {"id": str(device), "at": "2026-03-02T20:00:00Z"}, token=token
        )
    )["explainPlan"]
    assert night["playing"] == []
    assert night["fallbackPlaylistId"] == str(world.fallback_playlist)


async def test_plan_queries_need_a_reader(
    services: Services, api_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    body = await gql(api_client, DEVICE_PLAN, {"id": str(world.device_ids[0])})
    assert error_codes(body) == ["UNAUTHENTICATED"]
    body = await gql(
        api_client, EXPLAIN, {"id": str(world.device_ids[0]), "at": "2026-03-02T10:00:00Z"}
    )
    assert error_codes(body) == ["UNAUTHENTICATED"]
