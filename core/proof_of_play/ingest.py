"""Idempotent, set-based batch ingestion of proof-of-play events.

The whole batch costs two statements whatever its size: one lookup of the content durations
the batch refers to, and one statement that reads the validated events from a single JSON
parameter, inserts them with `ON CONFLICT DO NOTHING` and, from the rows it actually inserted
(RETURNING), upserts the store-local daily aggregates. So a duplicate changes nothing, and
the aggregates move in the same transaction as the rows they summarise.

Concurrency: two transactions inserting the same event serialise on the primary key, so
exactly one inserts it and the other sees a duplicate. Events are inserted in event_id order
and aggregate rows are upserted in key order, so overlapping batches take their row locks in
the same order and cannot deadlock each other.

The caller owns the transaction: commit (and only then answer the device) after this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.enums import ContentType
from core.errors import PayloadTooLarge
from core.proof_of_play.models import (
    NO_CAMPAIGN,
    DeviceContext,
    IngestPolicy,
    IngestResult,
)
from core.proof_of_play.validation import (
    EventValidator,
    ShapedBatch,
    ValidEvent,
    check_content_duration,
)

# The aggregate definitions (see models.py), shared with the rebuild.
AGGREGATE_COLUMNS = """
    count(*) FILTER (WHERE type = 'PLAY_END') AS plays_count,
    count(*) FILTER (WHERE type = 'PLAY_END' AND result = 'COMPLETED') AS completed_count,
    count(*) FILTER (WHERE type = 'PLAY_START') AS starts_count,
    COALESCE(sum(duration_ms) FILTER (WHERE type = 'PLAY_END'), 0) AS total_duration_ms
"""

_CONTENT_DURATIONS = text(
    f"""
    SELECT cv.content_id::text AS content_id, cv.version_number, cv.duration_ms
    FROM unnest(CAST(:content_ids AS uuid[]), CAST(:versions AS int[]))
         AS k(content_id, version_number)
    JOIN content_versions cv
      ON cv.content_id = k.content_id AND cv.version_number = k.version_number
    JOIN content c ON c.id = cv.content_id
    WHERE c.type = '{ContentType.VIDEO.value}' AND cv.duration_ms IS NOT NULL
    """,  # noqa: S608 - composed from constants, never from input
)

_INSERT_AND_AGGREGATE = text(
    f"""
    WITH input AS (
        SELECT * FROM json_to_recordset(CAST(:events AS json)) AS t(
            event_id uuid, device_time timestamptz, type text, playlist_id uuid,
            content_id uuid, content_version int, campaign_id uuid, schedule_id uuid,
            duration_ms int, result text, payload jsonb
        )
    ),
    inserted AS (
        INSERT INTO proof_of_play_events (
            event_id, device_time_ts, device_id, store_id, campaign_id, schedule_id,
            playlist_id, content_id, content_version, type, local_day, server_received_ts,
            duration_ms, result, payload_json
        )
        SELECT event_id, device_time, CAST(:device_id AS uuid), CAST(:store_id AS uuid),
               campaign_id, schedule_id, playlist_id, content_id, content_version, type,
               (device_time AT TIME ZONE CAST(:timezone AS text))::date,
               CAST(:received_at AS timestamptz), duration_ms, result, payload
        FROM input
        ON CONFLICT DO NOTHING
        RETURNING local_day, campaign_id, content_id, type, result, duration_ms
    ),
    aggregated AS (
        INSERT INTO proof_of_play_aggregate_daily AS agg (
            day, campaign_id, store_id, content_id,
            plays_count, completed_count, starts_count, total_duration_ms
        )
        SELECT local_day, COALESCE(campaign_id, '{NO_CAMPAIGN}'::uuid),
               CAST(:store_key AS uuid), content_id, {AGGREGATE_COLUMNS}
        FROM inserted
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (day, campaign_id, store_id, content_id) DO UPDATE SET
            plays_count = agg.plays_count + excluded.plays_count,
            completed_count = agg.completed_count + excluded.completed_count,
            starts_count = agg.starts_count + excluded.starts_count,
            total_duration_ms = agg.total_duration_ms + excluded.total_duration_ms
    )
    SELECT count(*) AS accepted FROM inserted
    """,  # noqa: S608 - composed from constants, never from input
)


_lock_order = attrgetter("key")  # unique within the batch after de-duplication


async def load_device_context(conn: AsyncConnection, device_id: object) -> DeviceContext | None:
    """The device's store and the store's timezone (UTC when it has no store)."""
    row = (
        await conn.execute(
            text(
                "SELECT d.id, d.store_id, COALESCE(s.timezone, 'UTC') AS timezone "
                "FROM devices d LEFT JOIN stores s ON s.id = d.store_id "
                "WHERE d.id = CAST(:device_id AS uuid)"
            ),
            {"device_id": str(device_id)},
        )
    ).one_or_none()
    if row is None:
        return None
    return DeviceContext(device_id=row.id, store_id=row.store_id, timezone=row.timezone)


def ensure_batch_size(count: int, policy: IngestPolicy) -> None:
    """A batch over the limit is refused whole (the edge answers 413)."""
    if count > policy.max_batch_events:
        raise PayloadTooLarge(
            f"at most {policy.max_batch_events} events per batch",
            details={"max_events": policy.max_batch_events},
        )


async def _content_durations(
    conn: AsyncConnection, events: Sequence[ValidEvent]
) -> dict[tuple[str, int], int]:
    pairs = sorted(
        {
            (e.row["content_id"].lower(), e.row["content_version"])
            for e in events
            if e.row.get("duration_ms")
        }
    )
    if not pairs:
        return {}
    rows = await conn.execute(
        _CONTENT_DURATIONS,
        {"content_ids": [p[0] for p in pairs], "versions": [p[1] for p in pairs]},
    )
    return {(r.content_id, r.version_number): r.duration_ms for r in rows}


async def ingest_events(
    conn: AsyncConnection,
    device: DeviceContext,
    raw_events: Sequence[object] | ShapedBatch,
    *,
    clock: Clock,
    policy: IngestPolicy,
) -> IngestResult:
    """Validate each event, insert the good ones once, and fold them into the aggregates.

    `raw_events` are the decoded JSON events, or a `ShapedBatch` when the caller could
    shape-check the request body directly (`shape_batch_json`), which is the fast path.
    """
    ensure_batch_size(len(raw_events), policy)
    now = clock.now()
    result = IngestResult()
    checked, errors = EventValidator(now, policy).validate(raw_events)
    unique: dict[str, ValidEvent] = {}
    for event in checked:
        if event.key in unique:
            result.duplicates += 1  # the same event twice in one batch counts once
        else:
            unique[event.key] = event

    valid = list(unique.values())
    durations = await _content_durations(conn, valid)
    if durations:  # some events play videos of known length: hold them to it
        kept: list[ValidEvent] = []
        for event in valid:
            key = (event.row["content_id"].lower(), event.row["content_version"])
            error = check_content_duration(event, durations.get(key), policy)
            if error is None:
                kept.append(event)
            else:
                errors.append(error)
        valid = kept

    if valid:
        valid.sort(key=_lock_order)  # one lock order for every batch
        inserted = await conn.execute(
            _INSERT_AND_AGGREGATE,
            {
                # One JSON parameter: far cheaper for asyncpg than eleven arrays encoded
                # element by element (json_to_recordset ignores the keys it does not name).
                "events": orjson.dumps([e.row for e in valid]).decode(),
                "device_id": str(device.device_id),
                "store_id": str(device.store_id) if device.store_id else None,
                "store_key": str(device.store_key),
                "timezone": device.timezone,
                "received_at": now,
            },
        )
        result.accepted = int(inserted.scalar_one())
        result.duplicates += len(valid) - result.accepted

    errors.sort(key=lambda e: e.index)
    result.errors = errors
    result.rejected = len(errors)
    return result
