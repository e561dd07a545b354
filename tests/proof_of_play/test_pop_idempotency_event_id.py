"""Idempotency by `event_id` alone, over real HTTP (issue 12, item 6; the seeds' rule).

The same event id counts once whatever else a resend changes (its device time included), an
id belongs to the device that stored it first, and ids are kept as long as any event can be
backdated, so a pruned id can never be counted a second time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from core.bootstrap import Services
from core.clock import FrozenClock
from core.proof_of_play.aggregates import verify_aggregates
from core.proof_of_play.partitions import run_partition_maintenance
from tests.conftest import T0
from tests.proof_of_play.builders import (
    World,
    aggregate_rows,
    device_auth,
    event,
    make_world,
    raw_count,
)

URL = "/v1/device/events"
DAY = T0.date()


async def post(
    client: httpx.AsyncClient, services: Services, world: World, events: list[Any]
) -> dict[str, Any]:
    response = await client.post(
        URL, json={"events": events}, headers=device_auth(services, world.device_id)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any]) -> tuple[int, int, int]:
    return body["accepted"], body["duplicates"], body["rejected"]


async def aggregates_match_raw_rows(services: Services) -> bool:
    async with services.engine.connect() as conn:
        return (
            await verify_aggregates(conn, DAY - timedelta(days=40), DAY + timedelta(days=1)) == []
        )


async def test_a_resend_with_another_device_time_counts_once(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    first = event(w, T0 - timedelta(days=5), duration_ms=10_000)  # February: another partition
    assert counts(await post(edge_client, services, w, [first])) == (1, 0, 0)

    # The player re-stamped its buffer: same event id, another time (and day, and month).
    restamped = {**first, "device_time": (T0 - timedelta(minutes=1)).isoformat()}
    assert counts(await post(edge_client, services, w, [restamped])) == (0, 1, 0)
    assert counts(await post(edge_client, services, w, [restamped, first])) == (0, 2, 0)

    assert await raw_count(services) == 1
    assert list((await aggregate_rows(services)).values()) == [(1, 1, 0, 10_000)]
    async with services.engine.connect() as conn:
        stored = (
            await conn.execute(text("SELECT device_time_ts FROM proof_of_play_events"))
        ).scalar_one()
    assert stored == T0 - timedelta(days=5)  # the first copy is the record
    assert await aggregates_match_raw_rows(services)


async def test_an_event_id_stored_by_another_device_is_refused_not_counted(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    owner = await make_world(services)
    other = await make_world(services)
    original = event(owner, T0 - timedelta(minutes=5), duration_ms=10_000)
    assert counts(await post(edge_client, services, owner, [original])) == (1, 0, 0)

    # The other device sends the same id (same device time too) for its own, real, play.
    same_id = event(
        other,
        T0 - timedelta(minutes=5),
        duration_ms=20_000,
        event_id=original["event_id"].upper(),
    )
    honest = event(other, T0 - timedelta(minutes=4), duration_ms=30_000)
    body = await post(edge_client, services, other, [same_id, honest])
    assert counts(body) == (1, 0, 1)
    assert [(e["index"], e["event_id"], e["code"]) for e in body["errors"]] == [
        (0, same_id["event_id"], "event_id_conflict")
    ]
    rows = await aggregate_rows(services)
    assert rows[(DAY, owner.campaign_id, owner.store_id, owner.video_id)] == (1, 1, 0, 10_000)
    assert rows[(DAY, other.campaign_id, other.store_id, other.video_id)] == (1, 1, 0, 30_000)

    # For its owner the id is still a plain duplicate.
    assert counts(await post(edge_client, services, owner, [original])) == (0, 1, 0)
    assert await raw_count(services) == 2
    assert await aggregates_match_raw_rows(services)


async def test_two_devices_racing_for_one_event_id_count_it_once(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    a = await make_world(services)
    b = await make_world(services)
    rounds = 5
    for _ in range(rounds):
        contested = event(a, T0 - timedelta(minutes=1))
        mirrored = event(b, T0 - timedelta(minutes=1), event_id=contested["event_id"])
        answers = await asyncio.gather(
            post(edge_client, services, a, [contested]),
            post(edge_client, services, b, [mirrored]),
        )
        outcomes = sorted(counts(answer) for answer in answers)
        assert outcomes == [(0, 0, 1), (1, 0, 0)]
        loser = next(answer for answer in answers if answer["rejected"])
        assert loser["errors"][0]["code"] == "event_id_conflict"
    assert await raw_count(services) == rounds
    assert await aggregates_match_raw_rows(services)


async def test_event_ids_outlive_every_event_that_could_be_replayed(
    edge_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    w = await make_world(services)
    played = event(w, T0 - timedelta(hours=1))
    assert counts(await post(edge_client, services, w, [played])) == (1, 0, 0)

    # A month later (within the backdating limit) maintenance keeps the id: a resend, even
    # re-stamped to "now", is a duplicate.
    clock.advance(timedelta(days=34))
    report = await run_partition_maintenance(services)
    assert report.deleted_event_keys == 0
    restamped = {**played, "device_time": clock.now().isoformat()}
    assert counts(await post(edge_client, services, w, [restamped])) == (0, 1, 0)

    # Past retention the id goes with its raw row, and by then the event is too old to be
    # accepted again: no window in which a pruned id counts twice.
    clock.set(T0 + timedelta(days=services.settings.pop_retention_days + 1))
    report = await run_partition_maintenance(services)
    assert report.deleted_event_keys == 1
    body = await post(edge_client, services, w, [played])
    assert [e["code"] for e in body["errors"]] == ["device_time_too_old"]
    assert body["accepted"] == 0
    async with services.engine.connect() as conn:
        keys = (
            await conn.execute(text("SELECT count(*) FROM proof_of_play_event_keys"))
        ).scalar_one()
    assert keys == 0
