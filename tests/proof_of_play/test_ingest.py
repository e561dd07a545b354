"""Ingestion against real PostgreSQL: idempotency, partial batches, aggregates per day."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from core.bootstrap import Services
from core.errors import PayloadTooLarge
from core.proof_of_play import NO_CAMPAIGN, NO_STORE, DeviceContext, RejectCode
from tests.conftest import T0
from tests.proof_of_play.builders import (
    add_content,
    add_device,
    add_to_world,
    aggregate_rows,
    event,
    ingest,
    make_world,
    raw_count,
    schedule_for,
)

DAY = T0.date()


async def test_a_batch_is_ingested_and_aggregated(services: Services) -> None:
    w = await make_world(services)
    batch = [
        event(w, T0 - timedelta(minutes=10), type="PLAY_START", duration_ms=None, result=None),
        event(w, T0 - timedelta(minutes=9), duration_ms=30_000),
        event(w, T0 - timedelta(minutes=8), type="PLAY_START", duration_ms=None, result=None),
        event(w, T0 - timedelta(minutes=7), duration_ms=12_000, result="SKIPPED"),
        event(w, T0 - timedelta(minutes=6), duration_ms=29_000),
    ]
    result = await ingest(services, w.device, batch)
    assert result.as_dict() == {"accepted": 5, "duplicates": 0, "rejected": 0, "errors": []}
    assert await aggregate_rows(services) == {
        (DAY, w.campaign_id, w.store_id, w.video_id): (3, 2, 2, 71_000)
    }
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT device_id, store_id, local_day, server_received_ts "
                    "FROM proof_of_play_events LIMIT 1"
                )
            )
        ).one()
    assert (row.device_id, row.store_id, row.local_day) == (w.device_id, w.store_id, DAY)
    assert row.server_received_ts == T0  # the injected clock, not the database's


async def test_a_duplicate_event_id_is_ignored_and_not_counted_twice(services: Services) -> None:
    w = await make_world(services)
    first = event(w, T0 - timedelta(minutes=5))
    assert (await ingest(services, w.device, [first])).accepted == 1
    before = await aggregate_rows(services)

    again = await ingest(services, w.device, [first, event(w, T0 - timedelta(minutes=4))])
    assert (again.accepted, again.duplicates, again.rejected) == (1, 1, 0)
    assert await raw_count(services) == 2
    (key,) = before
    assert before[key] == (1, 1, 0, 30_000)
    assert (await aggregate_rows(services))[key] == (2, 2, 0, 60_000)

    replay = await ingest(services, w.device, [first])
    assert (replay.accepted, replay.duplicates) == (0, 1)
    assert (await aggregate_rows(services))[key] == (2, 2, 0, 60_000)


async def test_the_same_event_twice_in_one_batch_counts_once(services: Services) -> None:
    w = await make_world(services)
    one = event(w, T0 - timedelta(minutes=5))
    result = await ingest(
        services, w.device, [one, dict(one), {**one, "event_id": one["event_id"].upper()}]
    )
    assert (result.accepted, result.duplicates, result.rejected) == (1, 2, 0)
    assert list((await aggregate_rows(services)).values()) == [(1, 1, 0, 30_000)]


async def test_a_partial_batch_accepts_the_good_events_and_explains_the_bad(
    services: Services,
) -> None:
    w = await make_world(services)
    negative = event(w, T0 - timedelta(minutes=3), duration_ms=-1)
    insane = event(w, T0 - timedelta(minutes=3), duration_ms=25 * 3600 * 1000)
    beyond_content = event(w, T0 - timedelta(minutes=3), duration_ms=150_001)
    batch: list[Any] = [
        event(w, T0 - timedelta(minutes=5)),
        negative,
        "not an event",
        insane,
        event(w, T0 - timedelta(minutes=4), duration_ms=150_000),  # 3 x 30 s + 60 s: allowed
        beyond_content,
        event(w, T0 - timedelta(minutes=2), content_id=w.image_id, duration_ms=3_600_000),
        event(w, T0 + timedelta(minutes=6)),
        event(w, T0 - timedelta(days=401)),
        event(w, T0 - timedelta(minutes=1), result=None),
    ]
    result = await ingest(services, w.device, batch)
    assert (result.accepted, result.duplicates, result.rejected) == (3, 0, 7)
    assert [(e.index, e.event_id, e.code) for e in result.errors] == [
        (1, negative["event_id"], RejectCode.NEGATIVE_DURATION),
        (2, None, RejectCode.INVALID_EVENT),
        (3, insane["event_id"], RejectCode.DURATION_TOO_LONG),
        (5, beyond_content["event_id"], RejectCode.DURATION_EXCEEDS_CONTENT),
        (7, batch[7]["event_id"], RejectCode.DEVICE_TIME_IN_FUTURE),
        (8, batch[8]["event_id"], RejectCode.DEVICE_TIME_TOO_OLD),
        (9, batch[9]["event_id"], RejectCode.MISSING_RESULT),
    ]
    assert await raw_count(services) == 3
    rows = await aggregate_rows(services)
    assert rows[(DAY, w.campaign_id, w.store_id, w.video_id)] == (2, 2, 0, 180_000)
    assert rows[(DAY, w.campaign_id, w.store_id, w.image_id)] == (1, 1, 0, 3_600_000)


async def test_a_batch_with_only_bad_events_changes_nothing(services: Services) -> None:
    w = await make_world(services)
    result = await ingest(services, w.device, [event(w, T0, duration_ms=-3), {}])
    assert (result.accepted, result.rejected) == (0, 2)
    assert await raw_count(services) == 0
    assert await aggregate_rows(services) == {}


async def test_more_than_the_batch_limit_is_refused_whole(services: Services) -> None:
    w = await make_world(services)
    with pytest.raises(PayloadTooLarge):
        await ingest(services, w.device, [event(w, T0)] * 1001)
    assert await raw_count(services) == 0


async def test_aggregates_are_per_day_campaign_and_content(services: Services) -> None:
    w = await make_world(services)
    other = await add_content(services, "video", 10_000)
    await add_to_world(services, w, other)
    yesterday = T0 - timedelta(days=1)
    batch = [
        event(w, yesterday, duration_ms=1_000),
        event(w, yesterday, duration_ms=2_000, result="ERROR"),
        event(w, T0 - timedelta(hours=1), duration_ms=4_000),
        event(w, T0 - timedelta(hours=1), duration_ms=8_000, campaign=False),
        event(w, T0 - timedelta(hours=1), duration_ms=16_000, content_id=other),
    ]
    assert (await ingest(services, w.device, batch)).accepted == 5
    assert await aggregate_rows(services) == {
        (DAY - timedelta(days=1), w.campaign_id, w.store_id, w.video_id): (2, 1, 0, 3_000),
        (DAY, w.campaign_id, w.store_id, w.video_id): (1, 1, 0, 4_000),
        (DAY, NO_CAMPAIGN, w.store_id, w.video_id): (1, 1, 0, 8_000),
        (DAY, w.campaign_id, w.store_id, other): (1, 1, 0, 16_000),
    }


async def test_a_device_without_a_store_is_counted_under_no_store(services: Services) -> None:
    w = await make_world(services)
    loose = DeviceContext(await add_device(services, None), None, "UTC")
    await schedule_for(services, loose.device_id, w.playlist_id, w.campaign_id)
    assert (await ingest(services, loose, [event(w, T0)])).accepted == 1
    assert await aggregate_rows(services) == {
        (date(2026, 3, 2), w.campaign_id, NO_STORE, w.video_id): (1, 1, 0, 30_000)
    }


async def test_the_payload_is_stored_as_given(services: Services) -> None:
    w = await make_world(services)
    payload = {"screen": 2, "note": 'caf\u00e9 "quoted"', "nested": {"list": [1, None]}}
    one = event(w, T0, payload=payload)
    bare = event(w, T0)
    assert (await ingest(services, w.device, [one, bare])).accepted == 2
    async with services.engine.connect() as conn:
        stored = dict(
            (
                await conn.execute(
                    text("SELECT event_id::text, payload_json FROM proof_of_play_events")
                )
            ).all()
        )
    assert stored == {one["event_id"]: payload, bare["event_id"]: None}


async def test_store_and_device_come_from_the_context_not_the_body(services: Services) -> None:
    w = await make_world(services)
    forged = event(w, T0, device_id=str(uuid.uuid4()), store_id=str(uuid.uuid4()))
    assert (await ingest(services, w.device, [forged])).accepted == 1
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT device_id, store_id FROM proof_of_play_events"))
        ).one()
    assert (row.device_id, row.store_id) == (w.device_id, w.store_id)
