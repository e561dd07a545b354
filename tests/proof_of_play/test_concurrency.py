"""The same events arriving concurrently on separate connections are counted exactly once."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from core.bootstrap import Services
from tests.conftest import T0
from tests.proof_of_play.builders import aggregate_rows, event, ingest, make_world, raw_count


async def test_identical_batches_sent_concurrently_count_exactly_once(services: Services) -> None:
    w = await make_world(services)
    batch = [event(w, T0 - timedelta(seconds=i), duration_ms=1_000 + i) for i in range(300)]
    results = await asyncio.gather(*(ingest(services, w.device, batch) for _ in range(4)))
    assert sum(r.accepted for r in results) == 300
    assert sum(r.duplicates for r in results) == 900
    assert all(r.rejected == 0 for r in results)
    assert await raw_count(services) == 300
    ((_key, counts),) = (await aggregate_rows(services)).items()
    assert counts == (300, 300, 0, sum(1_000 + i for i in range(300)))


async def test_overlapping_batches_in_different_orders_neither_deadlock_nor_double(
    services: Services,
) -> None:
    w = await make_world(services)
    pool = [event(w, T0 - timedelta(hours=i % 30), duration_ms=100) for i in range(400)]
    rng = random.Random(7)
    batches = []
    for _ in range(6):
        chosen = rng.sample(pool, 250)
        rng.shuffle(chosen)
        batches.append(chosen)
    results = await asyncio.gather(*(ingest(services, w.device, b) for b in batches))
    distinct = {e["event_id"] for b in batches for e in b}
    assert sum(r.accepted for r in results) == len(distinct)
    assert sum(r.accepted + r.duplicates for r in results) == 6 * 250
    assert await raw_count(services) == len(distinct)
    rows = await aggregate_rows(services)
    assert sum(c[0] for c in rows.values()) == len(distinct)
    assert sum(c[3] for c in rows.values()) == 100 * len(distinct)
