"""Rebuilding and verifying the daily aggregates from the raw event log.

Ingestion keeps the aggregates equal to the raw rows incrementally; this is the tool for when
that must be proven (verify) or restored (rebuild), e.g. after a bug or a manual fix. Both
work on a range of store-local days, which is exactly the aggregate's `day`.

A rebuild locks the aggregate table against writers (ingestion waits a moment), deletes the
range and re-inserts it from the raw rows, in the caller's transaction. Because every
statement after the lock sees every committed event, and no ingestion can upsert until the
rebuild commits, an event is counted exactly once whether it commits before or after.

Raw events past retention are gone while their aggregates are kept, so rebuilding such days
would destroy the only record left: the range must start after `not_before`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.errors import ValidationFailed
from core.proof_of_play.ingest import AGGREGATE_COLUMNS
from core.proof_of_play.models import NO_CAMPAIGN, NO_STORE
from core.proof_of_play.partitions import retention_cutoff

COUNT_COLUMNS = ("plays_count", "completed_count", "starts_count", "total_duration_ms")

_FROM_RAW = f"""
    SELECT local_day AS day,
           COALESCE(campaign_id, '{NO_CAMPAIGN}'::uuid) AS campaign_id,
           COALESCE(store_id, '{NO_STORE}'::uuid) AS store_id,
           content_id, {AGGREGATE_COLUMNS}
    FROM proof_of_play_events
    WHERE local_day BETWEEN :start AND :end
    GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - composed from constants, never from input

_REBUILD = text(
    f"""
    INSERT INTO proof_of_play_aggregate_daily
        (day, campaign_id, store_id, content_id, {", ".join(COUNT_COLUMNS)})
    {_FROM_RAW}
    ORDER BY 1, 2, 3, 4
    """
)

_VERIFY = text(
    f"""
    WITH expected AS ({_FROM_RAW}),
    actual AS (
        SELECT day, campaign_id, store_id, content_id, {", ".join(COUNT_COLUMNS)}
        FROM proof_of_play_aggregate_daily WHERE day BETWEEN :start AND :end
    )
    SELECT COALESCE(e.day, a.day) AS day,
           COALESCE(e.campaign_id, a.campaign_id) AS campaign_id,
           COALESCE(e.store_id, a.store_id) AS store_id,
           COALESCE(e.content_id, a.content_id) AS content_id,
           {", ".join(f"e.{c} AS expected_{c}" for c in COUNT_COLUMNS)},
           {", ".join(f"a.{c} AS actual_{c}" for c in COUNT_COLUMNS)}
    FROM expected e
    FULL OUTER JOIN actual a USING (day, campaign_id, store_id, content_id)
    WHERE {" OR ".join(f"e.{c} IS DISTINCT FROM a.{c}" for c in COUNT_COLUMNS)}
    ORDER BY 1, 2, 3, 4
    """,  # noqa: S608 - composed from constants, never from input
)


@dataclass(frozen=True)
class Counts:
    plays_count: int
    completed_count: int
    starts_count: int
    total_duration_ms: int


@dataclass(frozen=True)
class AggregateDifference:
    """One aggregate row that does not match its raw events (None: the row is missing)."""

    day: date
    campaign_id: uuid.UUID
    store_id: uuid.UUID
    content_id: uuid.UUID
    expected: Counts | None
    actual: Counts | None


@dataclass
class RebuildReport:
    start: date
    end: date
    deleted_rows: int = 0
    inserted_rows: int = 0
    differences_before: list[AggregateDifference] = field(default_factory=list)


def earliest_rebuildable_day(clock: Clock, retention_days: int) -> date:
    """The first local day whose raw events are all still kept, in every timezone."""
    # Local days run up to 14 h ahead of / 12 h behind UTC; one day of margin covers both.
    return retention_cutoff(clock, retention_days).date() + timedelta(days=1)


def _check_range(start: date, end: date, not_before: date | None) -> None:
    if end < start:
        raise ValidationFailed("the range ends before it starts", field="to")
    if not_before is not None and start < not_before:
        raise ValidationFailed(
            f"raw events before {not_before.isoformat()} are past retention; rebuilding those "
            "days would erase aggregates that can no longer be recomputed",
            field="from",
        )


def _counts(row: object, prefix: str) -> Counts | None:
    values = [getattr(row, f"{prefix}{c}") for c in COUNT_COLUMNS]
    if values[0] is None:
        return None
    return Counts(*(int(v) for v in values))


async def verify_aggregates(
    conn: AsyncConnection, start: date, end: date
) -> list[AggregateDifference]:
    """Every aggregate row in the range that differs from its raw events (empty: all equal)."""
    _check_range(start, end, None)
    rows = await conn.execute(_VERIFY, {"start": start, "end": end})
    return [
        AggregateDifference(
            day=row.day,
            campaign_id=row.campaign_id,
            store_id=row.store_id,
            content_id=row.content_id,
            expected=_counts(row, "expected_"),
            actual=_counts(row, "actual_"),
        )
        for row in rows
    ]


async def rebuild_aggregates(
    conn: AsyncConnection, start: date, end: date, *, not_before: date | None = None
) -> RebuildReport:
    """Recompute the range from raw events, in the caller's transaction (commit to keep)."""
    _check_range(start, end, not_before)
    await conn.execute(text("LOCK TABLE proof_of_play_aggregate_daily IN SHARE ROW EXCLUSIVE MODE"))
    report = RebuildReport(start=start, end=end)
    report.differences_before = await verify_aggregates(conn, start, end)
    params = {"start": start, "end": end}
    deleted = await conn.execute(
        text("DELETE FROM proof_of_play_aggregate_daily WHERE day BETWEEN :start AND :end"),
        params,
    )
    report.deleted_rows = int(deleted.rowcount or 0)
    inserted = await conn.execute(_REBUILD, params)
    report.inserted_rows = int(inserted.rowcount or 0)
    return report
