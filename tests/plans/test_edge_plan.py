"""GET /v1/device/plan through the real edge app: ETag, If-None-Match and the 304 path."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import date

import httpx

from core.bootstrap import Services
from core.db.enums import TargetType
from core.db.tables import schedules
from core.devices.state_reader import CachedDeviceState, DeviceStateReader
from core.devices.token_epoch import REVOKED
from core.plans import regenerate
from device_edge.routes.plan import PlanDocument, none_match_hits, requested_etags
from tests.graphql_api.helpers import count_queries, mint_device_token
from tests.plans.builders import (
    Item,
    add_campaign,
    add_content,
    add_playlist,
    add_schedule,
    make_world,
    plan_rows,
    update,
)

HEARTBEAT = {"now_playing": None, "disk_used_bytes": 1000, "plan_etag": None, "counters": {}}


def auth(services: Services, device_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_device_token(services, device_id)}"}


async def fetch(
    client: httpx.AsyncClient, headers: dict[str, str], if_none_match: str | None = None
) -> httpx.Response:
    extra = {"If-None-Match": if_none_match} if if_none_match is not None else {}
    return await client.get("/v1/device/plan", headers={**headers, **extra})


def bare(etag_header: str) -> str:
    assert etag_header.startswith('"') and etag_header.endswith('"'), etag_header
    return etag_header[1:-1]


async def test_the_plan_comes_with_its_etag(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    [device] = world.device_ids
    response = await fetch(edge_client, auth(services, device))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "no-cache" in response.headers["cache-control"]
    assert "private" in response.headers["cache-control"]
    etag = bare(response.headers["etag"])
    # The body is the canonical JSON the ETag hashes, and matches the documented shape.
    assert etag == "sha256-" + hashlib.sha256(response.content).hexdigest()[:32]
    PlanDocument.model_validate(response.json())
    # Generated on demand (there was no plan), stored, and cached for the 304 path.
    assert (await plan_rows(services))[device].etag == etag


async def test_if_none_match_with_the_current_etag_gives_304_in_every_form(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    headers = auth(services, world.device_ids[0])
    etag = bare((await fetch(edge_client, headers)).headers["etag"])
    for form in (
        f'"{etag}"',
        f'W/"{etag}"',
        f'"sha256-00000000000000000000000000000000", W/"{etag}"',
        f'"other",   "{etag}"',
        "*",
        etag,  # unquoted, as the heartbeat reports it
    ):
        response = await fetch(edge_client, headers, form)
        assert response.status_code == 304, form
        assert response.content == b""
        assert response.headers["etag"] == f'"{etag}"'
        assert "no-cache" in response.headers["cache-control"]


async def test_a_different_etag_gets_the_full_plan(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    headers = auth(services, world.device_ids[0])
    etag = bare((await fetch(edge_client, headers)).headers["etag"])
    for form in ('"sha256-stale"', 'W/"sha256-stale"', "", f'"{etag}x"'):
        response = await fetch(edge_client, headers, form)
        assert response.status_code == 200, form
        assert bare(response.headers["etag"]) == etag
        assert response.json()["windows"]


async def test_the_304_path_queries_no_postgresql_at_all(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    headers = auth(services, world.device_ids[0])
    first = await fetch(edge_client, headers)  # warms the epoch cache too
    etag = first.headers["etag"]
    with count_queries(services) as queries:
        for form in (etag, f"W/{etag}", "*"):
            response = await fetch(edge_client, headers, form)
            assert response.status_code == 304
    assert queries.statements == []
    # The counter does see the full path: it is not blind.
    with count_queries(services) as queries:
        assert (await fetch(edge_client, headers)).status_code == 200
    assert queries.count >= 1


async def test_a_change_gives_a_new_etag_and_the_heartbeat_says_so(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 2)
    device = world.device_ids[0]
    headers = auth(services, device)
    old = bare((await fetch(edge_client, headers)).headers["etag"])
    beat = await edge_client.post(
        "/v1/device/heartbeat", json={**HEARTBEAT, "plan_etag": old}, headers=headers
    )
    assert beat.status_code == 200 and beat.json()["plan_changed"] is False

    await update(services, schedules, world.schedule_id, priority=9, rules_json={})
    await regenerate(services, world.device_ids)

    beat = await edge_client.post(
        "/v1/device/heartbeat", json={**HEARTBEAT, "plan_etag": old}, headers=headers
    )
    assert beat.json()["plan_changed"] is True
    new = beat.json()["plan_etag"]
    assert new != old
    response = await fetch(edge_client, headers, f'"{old}"')
    assert response.status_code == 200 and bare(response.headers["etag"]) == new
    # All day, every day now: a single window owned by the schedule.
    assert [w["schedule_ids"] for w in response.json()["windows"]] == [[str(world.schedule_id)]]
    assert (await fetch(edge_client, headers, f'"{new}"')).status_code == 304


async def test_the_plan_needs_a_device_token(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    response = await edge_client.get("/v1/device/plan")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"
    response = await fetch(edge_client, {"Authorization": "Bearer nope"}, "*")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_the_documented_shape_covers_caps_and_campaigns(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    campaign = await add_campaign(services, date(2026, 1, 1), date(2026, 12, 31))
    clip, _ = await add_content(services, "capped")
    playlist = await add_playlist(services, Item(clip, weight=3), campaign_id=campaign)
    await add_schedule(
        services,
        target_type=TargetType.DEVICE,
        target_id=world.device_ids[0],
        playlist_id=playlist,
        priority=1,
        rules={"frequency_caps": [{"scope": "CAMPAIGN", "max_plays": 4, "per_seconds": 3600}]},
    )
    response = await fetch(edge_client, auth(services, world.device_ids[0]))
    document = PlanDocument.model_validate(response.json())
    assert document.caps and document.caps[0].campaign_id == str(campaign)
    assert any(item.caps and item.weight == 3 for item in document.items)


def test_if_none_match_parsing() -> None:
    assert requested_etags(' W/"a" , "b",c,*') == {"a", "b", "c", "*"}
    assert requested_etags('w/"a"') == {"a"}
    assert requested_etags(" , ") == set()
    assert none_match_hits('"x", W/"y"', "y")
    assert not none_match_hits('"x"', "y")
    assert none_match_hits("*", "anything")


async def test_concurrent_etag_reads_share_redis_round_trips(services: Services) -> None:
    world = await make_world(services, 40)
    report = await regenerate(services, world.device_ids)
    reader = DeviceStateReader(services.engine, services.redis, services.keys)
    unknown = uuid.uuid4()
    found = await asyncio.gather(*(reader.read(d) for d in [*world.device_ids, unknown]))
    assert [state.plan_etag for state in found[:-1]] == [
        report.plans[d].etag for d in world.device_ids
    ]
    assert {state.epoch for state in found[:-1]} == {0}
    assert found[-1] == CachedDeviceState(epoch=REVOKED, plan_etag=None)
    assert reader.batches < len(found)  # coalesced: not one MGET per request
