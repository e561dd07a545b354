"""Rebuilding and verifying aggregates from raw events, and the `pop-rebuild` command."""

from __future__ import annotations

import argparse
import asyncio
import io
import uuid
from contextlib import redirect_stdout
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from core.bootstrap import Services
from core.config import Settings
from core.errors import ValidationFailed
from core.proof_of_play import NO_STORE
from core.proof_of_play.aggregates import rebuild_aggregates, verify_aggregates
from ops.pop_rebuild import add_arguments, execute, run
from tests.conftest import T0
from tests.harness import run_in_thread
from tests.proof_of_play.builders import aggregate_rows, event, ingest, make_world

DAY = T0.date()
START, END = DAY - timedelta(days=5), DAY


async def seed(services: Services) -> None:
    w = await make_world(services, "Europe/Berlin")
    batch = [
        event(w, T0 - timedelta(days=d, minutes=m), duration_ms=1_000 * (m + 1))
        for d in range(4)
        for m in range(5)
    ]
    batch += [event(w, T0 - timedelta(minutes=3), type="PLAY_START", duration_ms=None, result=None)]
    assert (await ingest(services, w.device, batch)).accepted == len(batch)


async def corrupt(services: Services) -> None:
    async with services.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE proof_of_play_aggregate_daily SET plays_count = plays_count + 7 "
                "WHERE day = :day"
            ),
            {"day": DAY},
        )
        await conn.execute(
            text("DELETE FROM proof_of_play_aggregate_daily WHERE day = :day"),
            {"day": DAY - timedelta(days=1)},
        )
        await conn.execute(
            text(
                "INSERT INTO proof_of_play_aggregate_daily (day, campaign_id, store_id, "
                "content_id, plays_count) VALUES (:day, :nil, :nil, :content, 5)"
            ),
            {"day": DAY - timedelta(days=2), "nil": NO_STORE, "content": uuid.uuid4()},
        )


async def test_verify_finds_each_kind_of_difference_and_rebuild_repairs_them(
    services: Services,
) -> None:
    await seed(services)
    good = await aggregate_rows(services)
    async with services.engine.connect() as conn:
        assert await verify_aggregates(conn, START, END) == []
    await corrupt(services)

    async with services.engine.connect() as conn:
        differences = await verify_aggregates(conn, START, END)
    kinds = sorted(
        ("missing" if d.actual is None else "extra" if d.expected is None else "wrong", d.day)
        for d in differences
    )
    assert kinds == [
        ("extra", DAY - timedelta(days=2)),
        ("missing", DAY - timedelta(days=1)),
        ("wrong", DAY),
    ]
    wrong = next(d for d in differences if d.day == DAY)
    assert wrong.actual is not None and wrong.expected is not None
    assert wrong.actual.plays_count == wrong.expected.plays_count + 7

    async with services.uow() as uow:
        report = await rebuild_aggregates(uow.conn, START, END)
        await uow.commit()
    assert len(report.differences_before) == 3
    assert report.inserted_rows == 4
    assert await aggregate_rows(services) == good
    async with services.engine.connect() as conn:
        assert await verify_aggregates(conn, START, END) == []


async def test_rebuild_leaves_days_outside_the_range_alone(services: Services) -> None:
    await seed(services)
    await corrupt(services)
    async with services.uow() as uow:
        await rebuild_aggregates(uow.conn, DAY, DAY)
        await uow.commit()
    async with services.engine.connect() as conn:
        assert len(await verify_aggregates(conn, START, END)) == 2


async def test_rebuild_refuses_days_past_retention_and_reversed_ranges(
    services: Services,
) -> None:
    async with services.uow() as uow:
        with pytest.raises(ValidationFailed):
            await rebuild_aggregates(uow.conn, DAY, DAY, not_before=DAY + timedelta(days=1))
        with pytest.raises(ValidationFailed):
            await rebuild_aggregates(uow.conn, DAY, DAY - timedelta(days=1))


async def test_rebuild_concurrent_with_ingestion_counts_every_event_once(
    services: Services,
) -> None:
    w = await make_world(services)
    batches = [
        [event(w, T0 - timedelta(minutes=i, seconds=b), duration_ms=10) for i in range(100)]
        for b in range(6)
    ]

    async def rebuild() -> None:
        async with services.uow() as uow:
            await rebuild_aggregates(uow.conn, DAY - timedelta(days=1), DAY)
            await uow.commit()

    await asyncio.gather(
        *(ingest(services, w.device, b) for b in batches[:3]),
        rebuild(),
        *(ingest(services, w.device, b) for b in batches[3:]),
        rebuild(),
    )
    assert sum(c[0] for c in (await aggregate_rows(services)).values()) == 600
    async with services.engine.connect() as conn:
        assert await verify_aggregates(conn, DAY - timedelta(days=1), DAY) == []


async def test_the_command_verifies_then_rebuilds(services: Services, settings: Settings) -> None:
    await seed(services)
    await corrupt(services)
    url = settings.database_url
    assert url is not None

    async def command(verify_only: bool) -> tuple[int, str]:
        out = io.StringIO()
        code = await execute(
            url,
            START,
            END,
            verify_only=verify_only,
            retention_days=400,
            clock=services.clock,
            out=out,
        )
        return code, out.getvalue()

    code, output = await command(verify_only=True)
    assert code == 1 and "3 aggregate rows differ" in output
    code, output = await command(verify_only=False)
    assert code == 0 and "3 rows differed" in output and "verified equal" in output
    code, output = await command(verify_only=True)
    assert code == 0 and "0 aggregate rows differ" in output


def test_the_command_line_parses_and_runs(settings: Settings) -> None:
    parser = argparse.ArgumentParser(prog="signage")
    add_arguments(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pop-rebuild", "--from", "2026-03-01", "--to", "2026-03-02"])
    assert (args.start, args.end, args.verify_only) == (date(2026, 3, 1), date(2026, 3, 2), False)
    assert args.handler is run
    with pytest.raises(SystemExit):
        parser.parse_args(["pop-rebuild", "--from", "March", "--to", "2026-03-02"])

    out = io.StringIO()
    codes: list[int] = []

    def invoke() -> None:
        with redirect_stdout(out):
            codes.append(run(args, settings))

    run_in_thread(invoke)  # the command runs its own event loop, as from a shell
    assert codes == [0]
    assert "verified equal" in out.getvalue()
