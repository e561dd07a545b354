"""Monthly partitions: created ahead, rows rescued from DEFAULT, dropped after retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from core.bootstrap import Services
from core.clock import FrozenClock
from core.proof_of_play import IngestPolicy
from core.proof_of_play.partitions import (
    DEFAULT_PARTITION,
    drop_expired_partitions,
    ensure_partitions,
    existing_partitions,
    maintain_partitions,
)
from tests.conftest import T0
from tests.proof_of_play.builders import aggregate_rows, event, ingest, make_world, raw_count


async def where_rows_live(services: Services) -> dict[str, int]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tableoid::regclass::text AS part, count(*) AS n "
                "FROM proof_of_play_events GROUP BY 1"
            )
        )
        return {r.part: r.n for r in rows}


async def ensure(services: Services, retention_days: int = 400) -> list[str]:
    async with services.uow() as uow:
        report = await ensure_partitions(uow.conn, services.clock, retention_days=retention_days)
        await uow.commit()
    return report.created


async def test_partitions_cover_retention_to_three_months_ahead(services: Services) -> None:
    created = await ensure(services)
    # T0 is 2 March 2026; 400 days back is 26 January 2025.
    assert created[0] == "proof_of_play_events_p202501"
    assert created[-1] == "proof_of_play_events_p202606"
    assert len(created) == 18
    async with services.engine.connect() as conn:
        assert sorted((await existing_partitions(conn)).values()) == created
    assert await ensure(services) == []  # idempotent


async def test_concurrent_maintenance_runs_do_not_collide(services: Services) -> None:
    results = await asyncio.gather(*(ensure(services) for _ in range(3)))
    assert sorted(len(r) for r in results) == [0, 0, 18]


async def test_rows_stranded_in_default_move_into_their_new_partition(
    services: Services,
) -> None:
    w = await make_world(services)
    late = IngestPolicy(max_backdate_days=400)  # players offline for months
    batch = [event(w, T0 - timedelta(days=d), duration_ms=1_000) for d in (0, 1, 40, 70)]
    assert (await ingest(services, w.device, batch, late)).accepted == 4
    assert await where_rows_live(services) == {DEFAULT_PARTITION: 4}
    aggregates = await aggregate_rows(services)

    await ensure(services)
    assert await where_rows_live(services) == {
        "proof_of_play_events_p202603": 2,
        "proof_of_play_events_p202601": 1,
        "proof_of_play_events_p202512": 1,
    }
    assert await aggregate_rows(services) == aggregates
    # The moved rows keep their primary key: a replay is still a duplicate.
    replay = await ingest(services, w.device, batch, late)
    assert (replay.accepted, replay.duplicates) == (0, 4)
    fresh = await ingest(services, w.device, [event(w, T0 - timedelta(minutes=1))])
    assert fresh.accepted == 1
    assert (await where_rows_live(services))["proof_of_play_events_p202603"] == 3


async def test_expired_partitions_are_dropped_and_aggregates_kept(services: Services) -> None:
    w = await make_world(services)
    long_policy = IngestPolicy(retention_days=800, max_backdate_days=800)
    very_old = datetime(2024, 6, 15, 12, tzinfo=UTC)  # before any partition: stays in DEFAULT
    batch = [
        event(w, very_old, duration_ms=1),
        event(w, datetime(2025, 12, 20, 12, tzinfo=UTC), duration_ms=10),
        event(w, datetime(2026, 1, 20, 12, tzinfo=UTC), duration_ms=100),
        event(w, T0 - timedelta(hours=1), duration_ms=1_000),
    ]
    assert (await ingest(services, w.device, batch, long_policy)).accepted == 4
    await ensure(services)
    aggregates = await aggregate_rows(services)
    assert len(aggregates) == 4

    # 30 days before T0 is 31 January 2026: December 2025 and older have expired whole.
    async with services.uow() as uow:
        report = await drop_expired_partitions(uow.conn, services.clock, retention_days=30)
        await uow.commit()
    assert report.dropped[0] == "proof_of_play_events_p202501"
    assert report.dropped[-1] == "proof_of_play_events_p202512"
    assert len(report.dropped) == 12
    assert report.deleted_default_rows == 1
    assert await where_rows_live(services) == {
        "proof_of_play_events_p202601": 1,
        "proof_of_play_events_p202603": 1,
    }
    assert await raw_count(services) == 2
    assert await aggregate_rows(services) == aggregates  # billing records survive retention


async def test_the_periodic_job_drops_then_prepares(services: Services, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 3, 2, tzinfo=UTC))
    async with services.uow() as uow:
        first = await maintain_partitions(uow.conn, services.clock, retention_days=60)
        await uow.commit()
    assert first.created[0] == "proof_of_play_events_p202601"
    assert first.dropped == []
    clock.set(datetime(2026, 5, 2, tzinfo=UTC))  # 60 days back: 3 March
    async with services.uow() as uow:
        later = await maintain_partitions(uow.conn, services.clock, retention_days=60)
        await uow.commit()
    assert later.dropped == ["proof_of_play_events_p202601", "proof_of_play_events_p202602"]
    assert later.created == ["proof_of_play_events_p202607", "proof_of_play_events_p202608"]
    async with services.engine.connect() as conn:
        months = sorted(await existing_partitions(conn))
    assert months[0] == date(2026, 3, 1) and months[-1] == date(2026, 8, 1)
