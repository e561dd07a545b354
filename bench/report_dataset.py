"""The report benchmark's dataset and its queries (used by bench/report_queries.py).

A year of `proof_of_play_aggregate_daily` for a 5,000-device fleet, generated set-based, and
the typical report requests, each with the exact pair of statements the report runs
(grouped rows + totals, see core.proof_of_play.reports) so PostgreSQL alone can be timed on
the same work.
"""

from __future__ import annotations

import argparse
import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg

MEASURES = (
    "CAST(COALESCE(SUM(plays_count), 0) AS BIGINT) AS plays, "
    "CAST(COALESCE(SUM(completed_count), 0) AS BIGINT) AS completed, "
    "CAST(COALESCE(SUM(starts_count), 0) AS BIGINT) AS starts, "
    "CAST(COALESCE(SUM(total_duration_ms), 0) AS BIGINT) AS total_duration_ms"
)
GQL_DIMENSIONS = {
    "DAY": "day",
    "STORE": "store_id",
    "CONTENT": "content_id",
    "CAMPAIGN": "campaign_id",
}


def seed_statements(args: argparse.Namespace, first_day: date) -> list[tuple[str, tuple[Any, ...]]]:
    """Set-based generation: a handful of INSERT ... SELECT FROM generate_series."""
    contents = max(args.contents_per_store * 4, 60)
    return [
        (
            "INSERT INTO stores (id, name, city, timezone) "
            "SELECT md5('store' || s)::uuid, 'Store ' || s, 'City ' || (s % 40), "
            "(ARRAY['Europe/Berlin', 'Europe/London', 'America/New_York', 'Asia/Tokyo'])"
            "[1 + s % 4] FROM generate_series(0, $1 - 1) AS s",
            (args.stores,),
        ),
        (
            "INSERT INTO campaigns (id, brand_name, name, start_date, end_date) "
            "SELECT md5('campaign' || c)::uuid, 'Brand ' || (c % 7), 'Campaign ' || c, "
            "$2::date, $2::date + $3::int FROM generate_series(0, $1 - 1) AS c",
            (args.campaigns, first_day, args.days),
        ),
        (
            "INSERT INTO content (id, name, type) "
            "SELECT md5('content' || k)::uuid, 'Clip ' || k, 'image' "
            "FROM generate_series(0, $1 - 1) AS k",
            (contents,),
        ),
        (
            "INSERT INTO devices (store_id, external_name, status) "
            "SELECT md5('store' || (d % $1))::uuid, 'Screen ' || d, 'offline' "
            "FROM generate_series(0, $2 - 1) AS d",
            (args.stores, args.devices),
        ),
        # Store s plays contents (s*7 + k) mod n for k < per_store; content k belongs to
        # campaign k mod campaigns. Counts vary by day, store and item.
        (
            "INSERT INTO proof_of_play_aggregate_daily (day, campaign_id, store_id, content_id, "
            "plays_count, completed_count, starts_count, total_duration_ms) "
            "SELECT $1::date + d::int, md5('campaign' || ((s * 7 + k) % $4) % $5)::uuid, "
            "md5('store' || s)::uuid, md5('content' || (s * 7 + k) % $4)::uuid, "
            "p, p - p / 20, p + p % 3, p::bigint * (10000 + 1000 * (k % 5)) "
            "FROM generate_series(0, $2 - 1) AS d, generate_series(0, $3 - 1) AS s, "
            "generate_series(0, $6 - 1) AS k, "
            "LATERAL (SELECT 20 + (s * 31 + k * 17 + d * 13) % 180 AS p) AS counts "
            "ORDER BY 1, 2, 3, 4",
            (first_day, args.days, args.stores, contents, args.campaigns, args.contents_per_store),
        ),
    ]


async def seed(conn: asyncpg.Connection, args: argparse.Namespace, first_day: date) -> int:
    for statement, params in seed_statements(args, first_day):
        await conn.execute(statement, *params)
    await conn.execute("ANALYZE")
    return int(await conn.fetchval("SELECT count(*) FROM proof_of_play_aggregate_daily"))


@dataclass(frozen=True)
class ReportCase:
    name: str
    group_by: tuple[str, ...]  # GraphQL ProofOfPlayGroupBy values
    campaigns: tuple[str, ...] | None = None
    stores: tuple[str, ...] | None = None
    start: date | None = None
    end: date | None = None

    def graphql(self) -> tuple[str, dict[str, Any]]:
        dims = " ".join(
            {"DAY": "day", "STORE": "storeId", "CONTENT": "contentId", "CAMPAIGN": "campaignId"}[g]
            for g in self.group_by
        )
        query = (
            "query($f: ProofOfPlayFilter!, $g: [ProofOfPlayGroupBy!]) {"
            " proofOfPlayReport(filter: $f, groupBy: $g) {"
            f" rows {{ {dims} plays completed starts totalDurationMs }}"
            " totals { plays completed starts totalDurationMs } truncated } }"
        )
        filters: dict[str, Any] = {}
        if self.campaigns:
            filters["campaignIds"] = list(self.campaigns)
        if self.stores:
            filters["storeIds"] = list(self.stores)
        if self.start:
            filters["from"] = self.start.isoformat()
        if self.end:
            filters["to"] = self.end.isoformat()
        return query, {"f": filters, "g": list(self.group_by)}

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, ids in (("campaign_id", self.campaigns), ("store_id", self.stores)):
            if ids:
                params.append([uuid.UUID(i) for i in ids])
                clauses.append(f"{column} = ANY(${len(params)}::uuid[])")
        for op, day in ((">=", self.start), ("<=", self.end)):
            if day:
                params.append(day)
                clauses.append(f"day {op} ${len(params)}")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def sql(self, *, limit: int | None = 10_001) -> tuple[str, str, list[Any]]:
        """The grouped statement and the totals statement the report runs, and their params."""
        where, params = self.where()
        dims = [GQL_DIMENSIONS[g] for g in self.group_by]
        keys = ", ".join(dims)
        select = f"SELECT {keys + ', ' if keys else ''}{MEASURES}"
        grouped = f"{select} FROM proof_of_play_aggregate_daily{where}"
        grouped += f" GROUP BY {keys} ORDER BY {keys}" if keys else " HAVING count(*) > 0"
        if limit is not None:
            grouped += f" LIMIT {limit}"
        totals = f"SELECT {MEASURES} FROM proof_of_play_aggregate_daily{where}"
        return grouped, totals, params


def cases(first_day: date, days: int) -> list[ReportCase]:
    last = first_day + timedelta(days=days - 1)
    campaign0 = str(uuid.UUID(hex=_md5("campaign0")))
    store0 = str(uuid.UUID(hex=_md5("store0")))
    return [
        ReportCase(
            "campaign by day, 30 days",
            ("DAY",),
            campaigns=(campaign0,),
            start=last - timedelta(days=29),
            end=last,
        ),
        ReportCase(
            "campaign by store, year", ("STORE",), campaigns=(campaign0,), start=first_day, end=last
        ),
        ReportCase(
            "all campaigns by campaign+day, year", ("CAMPAIGN", "DAY"), start=first_day, end=last
        ),
        ReportCase(
            "one store by day+content, 90 days",
            ("DAY", "CONTENT"),
            stores=(store0,),
            start=last - timedelta(days=89),
            end=last,
        ),
        ReportCase("grand total, year", (), start=first_day, end=last),
    ]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
