"""Reports from the aggregates: filters, grouping, totals, and the streamed CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from core.bootstrap import Services
from core.errors import ValidationFailed
from core.proof_of_play.reports import (
    GroupBy,
    Report,
    ReportFilter,
    ReportTotals,
    parse_group_by,
    report,
    stream_report_csv,
)
from tests.conftest import T0
from tests.proof_of_play.builders import (
    World,
    add_campaign,
    event,
    ingest,
    make_world,
    schedule_for,
)

DAY = T0.date()


async def two_stores(services: Services) -> tuple[World, World]:
    a = await make_world(services, "UTC")
    b = await make_world(services, "UTC", campaign_id=a.campaign_id)  # one campaign, two stores
    other_campaign = await add_campaign(services)
    await schedule_for(services, b.device_id, b.playlist_id, other_campaign)  # b plays it too
    await ingest(
        services,
        a.device,
        [
            event(a, T0 - timedelta(days=2), duration_ms=1_000),
            event(a, T0 - timedelta(days=1), duration_ms=2_000, result="SKIPPED"),
            event(a, T0 - timedelta(hours=1), duration_ms=4_000),
            event(a, T0 - timedelta(hours=1), type="PLAY_START", duration_ms=None, result=None),
        ],
    )
    await ingest(
        services,
        b.device,
        [
            event(b, T0 - timedelta(days=1), duration_ms=8_000),
            event(b, T0 - timedelta(hours=2), duration_ms=16_000, content_id=b.image_id),
            event(b, T0 - timedelta(hours=2), duration_ms=32_000, campaign_id=str(other_campaign)),
            event(b, T0 - timedelta(hours=2), duration_ms=64_000, campaign=False),
        ],
    )
    return a, b


async def run_report(
    services: Services, filters: ReportFilter, *group: GroupBy, limit: int = 100
) -> Report:
    async with services.engine.connect() as conn:
        return await report(conn, filters, group, limit=limit)


async def test_totals_by_campaign_and_date_range(services: Services) -> None:
    a, b = await two_stores(services)
    everything = await run_report(services, ReportFilter())
    assert everything.totals == ReportTotals(
        plays=7, completed=6, starts=1, total_duration_ms=127_000
    )
    assert len(everything.rows) == 1 and everything.rows[0].plays == 7

    campaign = ReportFilter(campaign_ids=[a.campaign_id])
    assert (await run_report(services, campaign)).totals == ReportTotals(5, 4, 1, 31_000)
    recent = ReportFilter(campaign_ids=[a.campaign_id], start=DAY - timedelta(days=1), end=DAY)
    assert (await run_report(services, recent)).totals == ReportTotals(4, 3, 1, 30_000)
    only_today = ReportFilter(start=DAY, end=DAY, store_ids=[b.store_id])
    assert (await run_report(services, only_today)).totals == ReportTotals(3, 3, 0, 112_000)
    image = ReportFilter(content_ids=[b.image_id])
    assert (await run_report(services, image)).totals == ReportTotals(1, 1, 0, 16_000)
    nothing = await run_report(services, ReportFilter(start=DAY + timedelta(days=1)))
    assert nothing.rows == [] and nothing.totals == ReportTotals()


async def test_grouping_by_day_and_store(services: Services) -> None:
    a, b = await two_stores(services)
    result = await run_report(
        services, ReportFilter(campaign_ids=[a.campaign_id]), GroupBy.DAY, GroupBy.STORE
    )
    got = [(r.day, r.store_id, r.content_id, r.campaign_id, r.plays) for r in result.rows]
    expected = sorted(
        [
            (DAY - timedelta(days=2), a.store_id, None, None, 1),
            (DAY - timedelta(days=1), a.store_id, None, None, 1),
            (DAY - timedelta(days=1), b.store_id, None, None, 1),
            (DAY, a.store_id, None, None, 1),
            (DAY, b.store_id, None, None, 1),
        ],
        key=lambda t: (t[0], str(t[1])),
    )
    assert got == expected
    assert sum(r.plays for r in result.rows) == result.totals.plays == 5


async def test_no_campaign_comes_back_as_none(services: Services) -> None:
    await two_stores(services)
    result = await run_report(services, ReportFilter(), GroupBy.CAMPAIGN)
    assert None in [r.campaign_id for r in result.rows]
    assert len(result.rows) == 3


async def test_a_truncated_report_still_totals_everything(services: Services) -> None:
    await two_stores(services)
    result = await run_report(services, ReportFilter(), GroupBy.DAY, GroupBy.STORE, limit=2)
    assert result.truncated and len(result.rows) == 2
    assert result.totals.plays == 7


def test_group_by_names_are_validated_and_ordered() -> None:
    assert parse_group_by(["store", "DAY", "store"]) == (GroupBy.DAY, GroupBy.STORE)
    with pytest.raises(ValidationFailed):
        parse_group_by(["week"])
    with pytest.raises(ValidationFailed):
        ReportFilter(start=DAY, end=DAY - timedelta(days=1)).validate()


async def test_csv_rows_sum_to_the_report_totals(services: Services) -> None:
    a, _ = await two_stores(services)
    filters = ReportFilter(start=DAY - timedelta(days=1), end=DAY)
    chunks = [
        c
        async for c in stream_report_csv(
            services.engine, filters, (GroupBy.DAY, GroupBy.CAMPAIGN), batch_rows=2
        )
    ]
    assert len(chunks) > 2  # header, then batches of two rows
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8"))))
    assert list(rows[0]) == [
        "day",
        "campaign_id",
        "plays",
        "completed",
        "starts",
        "total_duration_ms",
    ]
    totals = (await run_report(services, filters)).totals
    assert sum(int(r["plays"]) for r in rows) == totals.plays
    assert sum(int(r["total_duration_ms"]) for r in rows) == totals.total_duration_ms
    assert "" in {r["campaign_id"] for r in rows}
    assert str(a.campaign_id) in {r["campaign_id"] for r in rows}
