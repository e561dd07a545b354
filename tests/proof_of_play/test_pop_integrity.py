"""Proof-of-play integrity over real HTTP (issue 12, item 6, and item 1 for events).

A device can only add plays to what it could have played (the items of the plans it was
given), backdated at most POP_MAX_BACKDATE_DAYS, with small storable payloads, within its
quota; and no single event, whatever it holds, can fail the batch it came in.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, text

from core.bootstrap import Services
from core.clock import FrozenClock
from core.config import Settings
from core.db.enums import Role
from core.db.tables import playlist_items
from core.plans import regenerate
from core.proof_of_play.partitions import run_partition_maintenance
from core.scheduling.horizon import LENGTH as PLAN_HORIZON
from tests.conftest import T0
from tests.graphql_api.helpers import create_user_and_token, gql_data
from tests.proof_of_play.builders import (
    World,
    add_campaign,
    add_content,
    add_to_playlist,
    add_to_world,
    aggregate_rows,
    device_auth,
    event,
    make_world,
    raw_count,
    schedule_for,
)

URL = "/v1/device/events"
DAY = T0.date()

REPORT = """
query Report($filter: ProofOfPlayFilter!) {
  proofOfPlayReport(filter: $filter, groupBy: [CAMPAIGN]) {
    rows { campaignId plays starts }
    totals { plays starts }
  }
}
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The smallest quota allowed (one full batch a minute), so the quota test stays small."""
    return settings.model_copy(update={"pop_device_events_per_minute": 1000})


async def post(
    client: httpx.AsyncClient, services: Services, world: World, events: list[Any]
) -> dict[str, Any]:
    response = await client.post(
        URL, json={"events": events}, headers=device_auth(services, world.device_id)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refusals(body: dict[str, Any]) -> list[tuple[int, str]]:
    return [(error["index"], error["code"]) for error in body["errors"]]


async def campaign_report(
    api_client: httpx.AsyncClient, services: Services, campaign_id: uuid.UUID
) -> dict[str, Any]:
    """The console's report of one campaign, through the admin API."""
    admin = await create_user_and_token(services, Role.ADMIN)
    data = await gql_data(
        api_client,
        REPORT,
        {"filter": {"campaignIds": [str(campaign_id)], "from": "2026-01-01", "to": "2026-12-31"}},
        token=admin.token,
    )
    report: dict[str, Any] = data["proofOfPlayReport"]
    return report


async def stored_with_campaign(services: Services, campaign_id: uuid.UUID) -> int:
    async with services.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text("SELECT count(*) FROM proof_of_play_events WHERE campaign_id = :c"),
                    {"c": campaign_id},
                )
            ).scalar_one()
        )


async def test_an_invented_campaign_is_refused_per_event_and_absent_from_its_report(
    edge_client: httpx.AsyncClient, api_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    invented = uuid.uuid4()
    batch = [
        event(w, T0 - timedelta(minutes=3)),
        event(w, T0 - timedelta(minutes=2), campaign_id=str(invented)),
        event(w, T0 - timedelta(minutes=1)),
    ]
    body = await post(edge_client, services, w, batch)
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 1)
    assert refusals(body) == [(1, "unknown_campaign")]
    assert body["errors"][0]["event_id"] == batch[1]["event_id"]

    assert (await campaign_report(api_client, services, invented))["totals"]["plays"] == 0
    assert await stored_with_campaign(services, invented) == 0
    assert (await campaign_report(api_client, services, w.campaign_id))["totals"]["plays"] == 2


async def test_another_advertisers_campaign_is_refused_and_absent_from_its_report(
    edge_client: httpx.AsyncClient, api_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    rival = await add_campaign(services)
    elsewhere = await make_world(services, campaign_id=rival)  # the rival plays in another store
    assert (await post(edge_client, services, elsewhere, [event(elsewhere, T0)]))["accepted"] == 1

    # w's device claims a play of its own content for the rival's campaign.
    body = await post(edge_client, services, w, [event(w, T0, campaign_id=str(rival))])
    assert (body["accepted"], body["rejected"]) == (0, 1)
    assert refusals(body) == [(0, "mismatched_references")]
    report = await campaign_report(api_client, services, rival)
    assert report["totals"]["plays"] == 1  # the real play in the other store only
    assert await stored_with_campaign(services, rival) == 1


async def test_ids_that_do_not_exist_or_do_not_belong_together_are_refused(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    other = await make_world(services)
    stranger = await add_content(services, "video", 30_000)  # exists, in no playlist of w
    unknown = str(uuid.uuid4())
    batch = [
        event(w, T0, playlist_id=unknown),
        event(w, T0, content_id=uuid.UUID(unknown)),
        event(w, T0, content_version=7),  # w's video has only version 1
        event(w, T0, schedule_id=unknown),
        event(w, T0, content_id=stranger),  # not in the playlist
        event(w, T0, schedule_id=str(other.schedule_id)),  # schedules another playlist
        event(w, T0, schedule_id=str(w.schedule_id)),  # all as in the plan
    ]
    body = await post(edge_client, services, w, batch)
    assert refusals(body) == [
        (0, "unknown_playlist"),
        (1, "unknown_content"),
        (2, "unknown_content"),
        (3, "unknown_schedule"),
        (4, "mismatched_references"),
        (5, "mismatched_references"),
    ]
    assert (body["accepted"], body["rejected"]) == (1, 6)
    assert list((await aggregate_rows(services)).values()) == [(1, 1, 0, 30_000)]


async def test_content_never_scheduled_for_the_device_is_refused_until_it_is(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    other = await make_world(services)  # another store's device, playlist, content, campaign
    # Everything the other device's plan holds, consistent, but never in w's plans.
    as_other = {
        "playlist_id": str(other.playlist_id),
        "content_id": str(other.video_id),
        "campaign_id": str(other.campaign_id),
        "schedule_id": str(other.schedule_id),
    }
    without_campaign = {**as_other, "campaign_id": None, "schedule_id": None}
    batch = [event(w, T0, **as_other), event(w, T0, campaign=False, **without_campaign)]
    body = await post(edge_client, services, w, batch)
    assert refusals(body) == [(0, "not_scheduled"), (1, "not_scheduled")]
    assert await raw_count(services) == 0

    # Once w is scheduled to play that playlist (under its own schedule), it may report it.
    mine = await schedule_for(services, w.device_id, other.playlist_id, other.campaign_id)
    scheduled = {**as_other, "schedule_id": str(mine)}
    body = await post(edge_client, services, w, [event(w, T0, **scheduled)])
    assert (body["accepted"], body["rejected"]) == (1, 0)


async def test_the_plans_given_decide_not_the_playlist_as_it_stands(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    """An offline player plays the plan it has: editing the playlist meanwhile does not make
    its plays unreportable (the grants keep the plans' history), and content added to the
    playlist cannot be reported before a plan holding it was given."""
    w = await make_world(services)
    async with services.engine.begin() as conn:
        await conn.execute(
            delete(playlist_items).where(
                playlist_items.c.playlist_id == w.playlist_id,
                playlist_items.c.content_id == w.image_id,
            )
        )
    await regenerate(services, [w.device_id])  # the new plan has no image any more
    newcomer = await add_content(services, "image", None)
    await add_to_playlist(services, w.playlist_id, newcomer)  # no plan holds it yet
    late = event(w, T0 - timedelta(days=3), content_id=w.image_id, duration_ms=10_000)
    early = event(w, T0 - timedelta(days=3), content_id=newcomer, duration_ms=10_000)
    body = await post(edge_client, services, w, [late, early])
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert refusals(body) == [(1, "not_scheduled")]

    await regenerate(services, [w.device_id])  # still in the playlist: now in the plan
    body = await post(edge_client, services, w, [early])
    assert (body["accepted"], body["rejected"]) == (1, 0)


async def test_grants_are_pruned_only_once_no_acceptable_play_can_need_them(
    edge_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    w = await make_world(services)
    extra = await add_content(services, "image", None)
    await add_to_world(services, w, extra)  # a new plan: the first set is superseded at T0
    backdate = services.settings.pop_max_backdate_days

    # A play of the first set can be acceptable until `keep` after it was superseded: its
    # last plan ran out at most a horizon later, plus the backdating limit, plus a day of
    # margin for players' clocks (docs/proof_of_play.md).
    keep = timedelta(days=backdate) + PLAN_HORIZON + timedelta(days=1)
    clock.set(T0 + keep - timedelta(minutes=1))
    assert (await run_partition_maintenance(services)).pruned_grants == 0
    clock.set(T0 + keep + timedelta(minutes=1))
    assert (await run_partition_maintenance(services)).pruned_grants == 1
    async with services.engine.connect() as conn:
        left = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE superseded_at IS NULL), count(*), "
                    "(SELECT count(DISTINCT set_hash) FROM proof_of_play_grant_items) "
                    "FROM proof_of_play_device_grants"
                )
            )
        ).one()
    assert tuple(left) == (1, 1, 1)  # the current grant and its items stay
    # The current plan still vouches for plays, however long it has been current.
    body = await post(edge_client, services, w, [event(w, clock.now(), content_id=extra)])
    assert body["accepted"] == 1


async def test_backdating_is_bounded_by_the_setting(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    batch = [
        event(w, T0 - timedelta(days=7)),  # offline for a week: fine
        event(w, T0 - timedelta(days=365)),  # a year: refused
        event(w, T0 - timedelta(days=35)),  # the limit itself
        event(w, T0 - timedelta(days=35, seconds=1)),
    ]
    body = await post(edge_client, services, w, batch)
    assert refusals(body) == [(1, "device_time_too_old"), (3, "device_time_too_old")]
    assert "35 days" in body["errors"][0]["message"]
    assert body["accepted"] == 2
    days = sorted(day for day, *_ in await aggregate_rows(services))
    assert days == [DAY - timedelta(days=35), DAY - timedelta(days=7)]


async def test_a_megabyte_payload_is_refused_alone(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    batch = [
        event(w, T0 - timedelta(minutes=2), payload={"note": "x" * 4000}),  # within 4 KiB
        event(w, T0 - timedelta(minutes=1), payload={"blob": "x" * 1_000_000}),
        event(w, T0),
    ]
    body = await post(edge_client, services, w, batch)
    assert refusals(body) == [(1, "payload_too_large")]
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert await raw_count(services) == 2


async def test_unstorable_payloads_are_refused_per_event_and_the_rest_is_stored(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    poisoned = [
        {"text": "nul\u0000"},
        {"nul\u0000key": 1},
        {"text": "\ud800"},  # a lone surrogate
        {"n": 2**63},  # beyond bigint
        {"n": 10**30},  # beyond 64 bits
        {"n": float("nan")},
        {"n": float("inf")},
        {"deep": deep},
    ]
    batch = [event(w, T0 - timedelta(seconds=i), payload=p) for i, p in enumerate(poisoned)]
    batch.append(event(w, T0, payload={"screen": 1, "tags": ["a", "b"], "n": 2**63 - 1}))
    batch.append(event(w, T0))
    # Python's encoder writes what JSON allows (\\u escapes, NaN/Infinity, big integers).
    body_bytes = json.dumps({"events": batch}).encode()
    response = await edge_client.post(
        URL,
        content=body_bytes,
        headers={**device_auth(services, w.device_id), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert refusals(body) == [(i, "invalid_payload") for i in range(len(poisoned))]
    assert "\u0000" not in response.text
    assert (body["accepted"], body["rejected"]) == (2, len(poisoned))
    assert await raw_count(services) == 2


@pytest.mark.parametrize("fast_path", [True, False])
async def test_device_times_at_the_edge_of_the_datetime_range_are_refused_per_event(
    edge_client: httpx.AsyncClient, services: Services, fast_path: bool
) -> None:
    w = await make_world(services)
    extremes = [
        ("9999-12-31T23:59:59-23:59", "invalid_device_time"),  # UTC would be year 10000
        ("0001-01-01T00:00:00+23:59", "invalid_device_time"),  # UTC would be year 0
        ("9999-12-31T23:59:59+23:59", "invalid_device_time"),  # too close to the end
        ("0001-01-01T00:00:00-23:59", "invalid_device_time"),
        ("9999-12-28T00:00:00Z", "device_time_in_future"),
        ("0001-01-04T00:00:00Z", "device_time_too_old"),
    ]
    batch = [event(w, T0 - timedelta(minutes=1))]
    batch += [{**event(w, T0), "device_time": value} for value, _ in extremes]
    batch.append(event(w, T0))
    if not fast_path:  # one event off the common shape: every event takes the careful path
        batch.append({"event_id": "not-a-uuid"})
    body = await post(edge_client, services, w, batch)
    expected = [(i + 1, code) for i, (_, code) in enumerate(extremes)]
    if not fast_path:
        expected.append((len(batch) - 1, "invalid_event_id"))
    assert refusals(body) == expected
    assert body["accepted"] == 2
    assert await raw_count(services) == 2


async def test_each_device_has_an_ingest_quota_answered_with_429(
    edge_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    w = await make_world(services)
    other = await make_world(services)
    first = [event(w, T0 - timedelta(seconds=i), type="PLAY_START") for i in range(700)]
    second = [
        event(w, T0 - timedelta(minutes=20, seconds=i), type="PLAY_START") for i in range(400)
    ]
    assert (await post(edge_client, services, w, first))["accepted"] == 700

    refused = await edge_client.post(
        URL, json={"events": second}, headers=device_auth(services, w.device_id)
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert await raw_count(services) == 700  # nothing of the refused batch was stored

    # The quota is per device: another player is not held back by this one.
    assert (await post(edge_client, services, other, [event(other, T0)]))["accepted"] == 1

    clock.advance(timedelta(seconds=retry_after))
    assert (await post(edge_client, services, w, second))["accepted"] == 400


async def test_the_openapi_document_describes_the_rules(edge_client: httpx.AsyncClient) -> None:
    document = (await edge_client.get("/v1/device/openapi.json")).json()
    operation = document["paths"]["/v1/device/events"]["post"]
    assert "429" in operation["responses"]
    text_of_schemas = json.dumps(document["components"]["schemas"])
    for code in ("not_scheduled", "event_id_conflict", "payload_too_large", "unknown_campaign"):
        assert code in text_of_schemas
