"""A heartbeat that fails fails alone: the honest heartbeats coalesced into its batch succeed.

The edge refuses what PostgreSQL cannot store (422) before it reaches the writer, and no value
its schema accepts makes the heartbeat statement fail, so the poisoned reports here go
straight to the process's HeartbeatWriter, next to honest ones, as a report the edge's rules
missed would. A backend out of reach is the exception: it fails the batch at
once, without a retry per heartbeat.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from core.bootstrap import Services, build_services
from core.db.tables import devices
from core.devices.coalescing import Coalescer, isolating_budget
from core.devices.heartbeat import HeartbeatAck, HeartbeatReport
from core.devices.heartbeat_writer import HeartbeatWriter
from tests.conftest import T0
from tests.monitoring.factories import make_device

HONEST = HeartbeatReport(
    disk_used_bytes=1000, now_playing=None, plan_etag=None, last_error=None, counters={}
)
POISONS: dict[str, HeartbeatReport] = {
    # PostgreSQL refuses the statement: text cannot hold NUL.
    "nul_in_text": replace(HONEST, last_error="decoder crashed\x00"),
    # The driver refuses to encode it: beyond bigint.
    "beyond_bigint": replace(HONEST, disk_used_bytes=2**63),
    # The JSON encoder refuses it: beyond 64 bits inside a JSON document.
    "beyond_json_integer": replace(HONEST, counters={"plays": 2**64}),
}


async def statuses(services: Services, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[Any, ...]]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(devices.c.id, devices.c.status, devices.c.last_seen_at).where(
                devices.c.id.in_(ids)
            )
        )
        return {row.id: (row.status, row.last_seen_at) for row in rows}


@pytest.fixture
async def writer(services: Services) -> AsyncIterator[HeartbeatWriter]:
    # One batch at a time: the first heartbeat runs alone, every later one queues behind it
    # and they all go together in the second batch.
    heartbeats = HeartbeatWriter(services, max_in_flight=1)
    yield heartbeats
    await heartbeats.close()


@pytest.mark.parametrize("poison", list(POISONS))
async def test_honest_heartbeats_batched_with_a_poisoned_one_all_succeed(
    services: Services, writer: HeartbeatWriter, poison: str
) -> None:
    ids = [await make_device(services, status="offline") for _ in range(9)]
    poisoned = ids[5]
    reports = [POISONS[poison] if device == poisoned else HONEST for device in ids]

    results = await asyncio.gather(
        *(writer.record(device, report) for device, report in zip(ids, reports, strict=True)),
        return_exceptions=True,
    )

    assert writer.flushes == 2  # the poisoned heartbeat shared its batch with 7 honest ones
    answers = dict(zip(ids, results, strict=True))
    failed = {device for device, answer in answers.items() if isinstance(answer, BaseException)}
    assert failed == {poisoned}, answers
    assert all(isinstance(answers[d], HeartbeatAck) for d in ids if d != poisoned)
    rows = await statuses(services, ids)
    assert rows[poisoned] == ("offline", None)  # nothing of the poisoned report was written
    assert all(rows[d] == ("online", T0) for d in ids if d != poisoned)

    # The writer keeps working, with the same connections it had.
    honest = await writer.record(poisoned, HONEST)
    assert honest.status_changed and (await statuses(services, [poisoned]))[poisoned][0] == (
        "online"
    )


async def test_several_poisoned_heartbeats_in_one_batch_fail_alone(
    services: Services, writer: HeartbeatWriter
) -> None:
    ids = [await make_device(services, status="offline") for _ in range(17)]
    poisoned = {ids[2]: POISONS["nul_in_text"], ids[9]: POISONS["beyond_bigint"]}
    poisoned[ids[16]] = POISONS["beyond_json_integer"]
    results = await asyncio.gather(
        *(writer.record(device, poisoned.get(device, HONEST)) for device in ids),
        return_exceptions=True,
    )
    failed = {d for d, r in zip(ids, results, strict=True) if isinstance(r, BaseException)}
    assert failed == set(poisoned)
    rows = await statuses(services, ids)
    assert {d for d, (status, _) in rows.items() if status == "online"} == set(ids) - failed


async def test_isolating_one_bad_item_costs_a_few_runs_not_one_per_item() -> None:
    runs: list[int] = []

    async def run(items: Sequence[int]) -> list[int | BaseException]:
        runs.append(len(items))
        if 333 in items:
            raise ValueError("refused")
        return list(items)

    coalescer: Coalescer[int, int] = Coalescer(run, max_in_flight=1, isolate=lambda exc: True)
    results = await asyncio.gather(
        *(coalescer.submit(i) for i in range(501)), return_exceptions=True
    )
    assert [i for i, r in enumerate(results) if isinstance(r, ValueError)] == [333]
    assert results[:333] == list(range(333))
    assert runs[:2] == [1, 500]  # the first item alone, then one batch of 500
    assert len(runs) <= 2 + 2 * 9  # halving: about 2 x log2(500) more runs


async def test_when_every_item_fails_isolating_stops_at_its_budget() -> None:
    """A failure that is everyone's (a bug, a server gone read-only) is not split 2n times."""
    runs = 0

    async def run(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal runs
        runs += 1
        raise ValueError("refused")

    coalescer: Coalescer[int, int] = Coalescer(run, max_in_flight=1, isolate=lambda exc: True)
    results = await asyncio.gather(
        *(coalescer.submit(i) for i in range(257)), return_exceptions=True
    )
    assert all(isinstance(r, ValueError) for r in results)
    assert runs == 1 + 1 + isolating_budget(256) < 2 * 256


async def test_a_database_out_of_reach_fails_the_batch_at_once(services: Services) -> None:
    """Guard for the other side of the rule: when PostgreSQL does not answer, every heartbeat
    would fail alone as well, so the batch is not retried piece by piece against it. A local
    server that hangs up on every connection counts the connection attempts."""
    accepted = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = services.settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{port}/gone"}
    )
    dead = build_services(settings, clock=services.clock)
    heartbeats = HeartbeatWriter(dead, max_in_flight=1)
    try:
        results = await asyncio.gather(
            *(heartbeats.record(uuid.uuid4(), HONEST) for _ in range(8)),
            return_exceptions=True,
        )
    finally:
        await heartbeats.close()
        await dead.close()
        server.close()
        await server.wait_closed()
    assert all(isinstance(result, Exception) for result in results), results
    assert heartbeats.flushes == 2
    assert accepted == heartbeats.flushes  # one connection attempt per batch, no retries
