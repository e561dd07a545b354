"""The fault-injection suite's shortest scenario, in the normal test run: private PostgreSQL
and Redis, the four processes as separate OS processes, a small simulated fleet, and the
edge killed with SIGKILL mid-run and started again. Every acknowledged event must be stored
exactly once, every plan current, and every process doing its job afterwards (`make faults`
runs every fault with a bigger fleet; docs/reliability.md).

Then, with the processes stopped (so nothing repairs it behind the measurement's back), the
data is damaged on purpose, and the same measurements must see the damage: a suite whose
"lost", "duplicated" and "stale" could only ever say 0 would prove nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from core.devices.heartbeat import plan_etag_key
from core.redis_client import Keys
from faults import measure
from faults.scenarios import by_name
from faults.stack import KEY_PREFIX
from faults.suite import FaultResult, Suite, SuiteOptions
from simulator.records import read_acked

pytestmark = [pytest.mark.slow, pytest.mark.long]


@pytest.fixture
def work_dir() -> Iterator[Path]:
    # Outside pytest's basetemp: as root, PostgreSQL runs as another user that must traverse
    # the path (see tests/stack/conftest.py, embedded_data_dir).
    path = Path(tempfile.mkdtemp(prefix="signage-faults-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_edge_killed_mid_run_loses_nothing_and_doubles_nothing(work_dir: Path) -> None:
    options = dataclasses.replace(
        SuiteOptions.short(),
        devices=10,
        ramp_s=1.0,
        warmup_s=3.0,
        tail_s=8.0,
        drain_timeout_s=45.0,
    )
    suite = Suite(work_dir, options, out=print)
    await asyncio.to_thread(suite.start)
    try:
        result = await suite.run_fault(by_name(["edge-kill9"])[0], 0)
        assert suite.stack is not None
        await asyncio.to_thread(suite.stack.stop)
        await _damage_is_seen(suite, result)
    finally:
        await asyncio.to_thread(suite.stop)

    assert result.error is None, result.error
    assert result.ledger is not None and result.staleness is not None
    # The fault really hit the fleet: players were refused while the edge was down.
    assert result.traffic.errors.get("connect_error", 0) > 0, result.traffic
    assert result.recover_s is not None
    assert result.ledger.acked > 0
    assert result.ledger.lost == 0, result.ledger.lost_sample
    assert result.ledger.duplicated == 0, result.ledger
    assert result.staleness.devices == options.devices
    assert result.staleness.stale == 0, result.staleness
    # ... and that means something: the change committed before the kill reached every plan.
    assert result.plans_changed == result.plans_before_change > 0
    assert result.wedged == {}
    assert result.passed


async def _damage_is_seen(suite: Suite, result: FaultResult) -> None:
    acked = read_acked(suite.work_dir / "runs" / "edge-kill9" / "acked.log")
    engine = measure.measuring_engine(suite.cluster.database_url)
    client = aioredis.Redis.from_url(suite.cluster.redis_url)
    try:
        async with engine.begin() as conn:
            # An acknowledged event vanishes (its aggregate still counts it).
            gone = uuid.UUID(acked[0])
            await conn.execute(
                sa.text("DELETE FROM proof_of_play_events WHERE event_id = :e"), {"e": gone}
            )
            # One device's stored plan and another's cached ETag stop matching its inputs.
            first, second = (
                row[0]
                for row in await conn.execute(
                    sa.text(
                        "SELECT device_id FROM playout_plans WHERE device_id IN ("
                        " SELECT d.id FROM devices d JOIN stores s ON s.id = d.store_id"
                        " WHERE starts_with(s.name, :p)) ORDER BY device_id LIMIT 2"
                    ),
                    {"p": measure.store_prefix(result.run_name)},
                )
            )
            await conn.execute(
                sa.text("UPDATE playout_plans SET etag = 'tampered' WHERE device_id = :d"),
                {"d": first},
            )
        await client.set(plan_etag_key(Keys(KEY_PREFIX), second), "tampered")

        ledger = await measure.ledger(engine, result.run_name, acked)
        staleness = await measure.staleness(engine, suite.cluster.redis_url, result.run_name)
    finally:
        await client.aclose()
        await engine.dispose()
    assert (ledger.lost, ledger.lost_sample) == (1, [str(gone)])
    assert ledger.duplicated == 1  # counted by the aggregates, no longer stored
    assert (staleness.stale, staleness.stored_behind, staleness.cache_behind) == (2, 1, 1)
