"""Proof-of-play reports, read from the daily aggregates only (never the raw log).

Filters: campaigns, a range of store-local days (inclusive), stores and content. Rows are
grouped by any subset of day, store, content and campaign (none: one grand-total row), and
the totals are over the whole filter, so the CSV export (which streams every row) always
sums to the API's totals. "No campaign" and "no store" (the nil uuid in the aggregate key)
come back as None.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db.tables import proof_of_play_aggregate_daily as agg
from core.errors import ValidationFailed
from core.kernel.actor import Actor, Permission
from core.proof_of_play.models import NO_CAMPAIGN, NO_STORE

MAX_FILTER_IDS = 1000
DEFAULT_ROW_LIMIT = 10_000


class GroupBy(StrEnum):
    DAY = "day"
    STORE = "store"
    CONTENT = "content"
    CAMPAIGN = "campaign"


# Canonical order of dimensions: in rows, in ORDER BY and in CSV columns.
_DIMENSIONS: tuple[tuple[GroupBy, str, sa.ColumnElement[Any]], ...] = (
    (GroupBy.DAY, "day", agg.c.day),
    (GroupBy.STORE, "store_id", agg.c.store_id),
    (GroupBy.CONTENT, "content_id", agg.c.content_id),
    (GroupBy.CAMPAIGN, "campaign_id", agg.c.campaign_id),
)
_MEASURES = (
    ("plays", agg.c.plays_count),
    ("completed", agg.c.completed_count),
    ("starts", agg.c.starts_count),
    ("total_duration_ms", agg.c.total_duration_ms),
)


@dataclass(frozen=True)
class ReportFilter:
    campaign_ids: Sequence[uuid.UUID] | None = None
    start: date | None = None
    end: date | None = None
    store_ids: Sequence[uuid.UUID] | None = None
    content_ids: Sequence[uuid.UUID] | None = None

    def validate(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise ValidationFailed("`to` is before `from`", field="to")
        for name in ("campaign_ids", "store_ids", "content_ids"):
            ids = getattr(self, name)
            if ids is not None and len(ids) > MAX_FILTER_IDS:
                raise ValidationFailed(f"at most {MAX_FILTER_IDS} {name}", field=name)

    def where(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.campaign_ids is not None:
            clauses.append(agg.c.campaign_id.in_(list(self.campaign_ids)))
        if self.store_ids is not None:
            clauses.append(agg.c.store_id.in_(list(self.store_ids)))
        if self.content_ids is not None:
            clauses.append(agg.c.content_id.in_(list(self.content_ids)))
        if self.start is not None:
            clauses.append(agg.c.day >= self.start)
        if self.end is not None:
            clauses.append(agg.c.day <= self.end)
        return clauses


@dataclass(frozen=True)
class ReportTotals:
    plays: int = 0
    completed: int = 0
    starts: int = 0
    total_duration_ms: int = 0


@dataclass(frozen=True)
class ReportRow:
    day: date | None
    store_id: uuid.UUID | None
    content_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    plays: int
    completed: int
    starts: int
    total_duration_ms: int


@dataclass(frozen=True)
class Report:
    rows: list[ReportRow]
    totals: ReportTotals
    truncated: bool  # more rows matched than the limit; totals still cover them all


def parse_group_by(values: Sequence[str]) -> tuple[GroupBy, ...]:
    """Names to dimensions, deduplicated, in canonical order; unknown names are an error."""
    chosen: set[GroupBy] = set()
    for value in values:
        try:
            chosen.add(GroupBy(value.strip().lower()))
        except ValueError:
            allowed = ", ".join(g.value for g in GroupBy)
            raise ValidationFailed(
                f"unknown group_by {value!r}; allowed: {allowed}", field="group_by"
            ) from None
    return tuple(g for g, _, _ in _DIMENSIONS if g in chosen)


def _measures() -> list[sa.Label[Any]]:
    return [
        sa.cast(sa.func.coalesce(sa.func.sum(c), 0), sa.BigInteger).label(n) for n, c in _MEASURES
    ]


def _grouped_query(filters: ReportFilter, group_by: Sequence[GroupBy]) -> sa.Select[Any]:
    dims = [column.label(name) for g, name, column in _DIMENSIONS if g in group_by]
    keys = [column for g, _, column in _DIMENSIONS if g in group_by]
    query = sa.select(*dims, *_measures()).where(*filters.where())
    if keys:
        return query.group_by(*keys).order_by(*keys)
    return query.having(sa.func.count() > 0)


def _none_if_nil(value: uuid.UUID | None, nil: uuid.UUID) -> uuid.UUID | None:
    return None if value == nil else value


def _row(mapping: Any) -> ReportRow:
    return ReportRow(
        day=mapping.get("day"),
        store_id=_none_if_nil(mapping.get("store_id"), NO_STORE),
        content_id=mapping.get("content_id"),
        campaign_id=_none_if_nil(mapping.get("campaign_id"), NO_CAMPAIGN),
        plays=int(mapping["plays"]),
        completed=int(mapping["completed"]),
        starts=int(mapping["starts"]),
        total_duration_ms=int(mapping["total_duration_ms"]),
    )


async def report_totals(conn: AsyncConnection, filters: ReportFilter) -> ReportTotals:
    row = (await conn.execute(sa.select(*_measures()).where(*filters.where()))).mappings().one()
    return ReportTotals(**{name: int(row[name]) for name, _ in _MEASURES})


async def report(
    conn: AsyncConnection,
    filters: ReportFilter,
    group_by: Sequence[GroupBy],
    *,
    limit: int = DEFAULT_ROW_LIMIT,
) -> Report:
    """Grouped rows (at most `limit`, flagged when cut) and the totals of the whole filter."""
    filters.validate()
    result = await conn.execute(_grouped_query(filters, group_by).limit(limit + 1))
    rows = [_row(m) for m in result.mappings()]
    truncated = len(rows) > limit
    return Report(rows=rows[:limit], totals=await report_totals(conn, filters), truncated=truncated)


async def read_report(
    engine: AsyncEngine,
    actor: Actor,
    filters: ReportFilter,
    group_by: Sequence[GroupBy],
    *,
    limit: int = DEFAULT_ROW_LIMIT,
) -> Report:
    """The console's report use case: authorized here, whichever edge asks (GraphQL)."""
    actor.require(Permission.READ)
    if not 0 < limit <= DEFAULT_ROW_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {DEFAULT_ROW_LIMIT}", field="limit")
    async with engine.connect() as conn:
        return await report(conn, filters, group_by, limit=limit)


def export_report_csv(
    engine: AsyncEngine, actor: Actor, filters: ReportFilter, group_by: Sequence[GroupBy]
) -> AsyncIterator[bytes]:
    """The CSV export use case: authorized and validated now, before the caller starts a
    streaming answer; the rows are read while the stream is consumed."""
    actor.require(Permission.READ)
    filters.validate()
    return stream_report_csv(engine, filters, group_by)


def csv_header(group_by: Sequence[GroupBy]) -> list[str]:
    return [name for g, name, _ in _DIMENSIONS if g in group_by] + [n for n, _ in _MEASURES]


def _csv_cells(row: ReportRow, group_by: Sequence[GroupBy]) -> list[object]:
    cells: list[object] = []
    for g, name, _ in _DIMENSIONS:
        if g in group_by:
            value = getattr(row, name)
            cells.append("" if value is None else str(value))
    cells += [row.plays, row.completed, row.starts, row.total_duration_ms]
    return cells


async def stream_report_csv(
    engine: AsyncEngine,
    filters: ReportFilter,
    group_by: Sequence[GroupBy],
    *,
    batch_rows: int = 2000,
) -> AsyncIterator[bytes]:
    """The report as UTF-8 CSV with a header, read through a server-side cursor.

    Memory stays flat however many rows match: PostgreSQL hands over `batch_rows` at a time
    and each batch is encoded and yielded before the next is fetched. The connection is held
    for the duration of the download and released when the generator closes.
    """
    filters.validate()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_header(group_by))
    yield buffer.getvalue().encode("utf-8")
    query = _grouped_query(filters, group_by).execution_options(yield_per=batch_rows)
    async with engine.connect() as conn:
        result = await conn.stream(query)
        async for batch in result.mappings().partitions(batch_rows):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(_csv_cells(_row(m), group_by) for m in batch)
            yield buffer.getvalue().encode("utf-8")
