"""Coalescing: concurrent heartbeats and epoch reads of one process share statements."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.bootstrap import Services
from core.db.tables import device_status_transitions, devices
from core.devices.coalescing import Coalescer
from tests.device_edge.conftest import HEARTBEAT, Placement, pair


async def test_batches_form_while_others_are_in_flight() -> None:
    seen: list[list[int]] = []
    gate = asyncio.Event()

    async def run(items: Sequence[int]) -> list[int | BaseException]:
        seen.append(list(items))
        await gate.wait()
        return [i * 10 for i in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_in_flight=1)
    tasks = [asyncio.create_task(coalescer.submit(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30, 40]
    assert seen == [[0], [1, 2, 3, 4]]  # the first starts at once, the rest wait together


async def test_distinct_keys_never_share_a_batch_and_keep_their_order() -> None:
    seen: list[list[tuple[str, int]]] = []

    async def run(items: Sequence[tuple[str, int]]) -> list[int | BaseException]:
        seen.append(list(items))
        await asyncio.sleep(0)
        return [n for _, n in items]

    coalescer: Coalescer[tuple[str, int], int] = Coalescer(
        run, max_in_flight=3, distinct=lambda item: item[0]
    )
    items = [("a", 1), ("a", 2), ("b", 3), ("a", 4)]
    assert await asyncio.gather(*(coalescer.submit(i) for i in items)) == [1, 2, 3, 4]
    assert all(len({key for key, _ in batch}) == len(batch) for batch in seen)
    order = [n for batch in seen for key, n in batch if key == "a"]
    assert order == [1, 2, 4]
    # Even with free slots, a key never runs in two batches at once: "a" waited each time.
    assert [[k for k, _ in batch] for batch in seen] == [["a"], ["b"], ["a"], ["a"]]


async def test_failures_reach_every_caller_of_the_batch() -> None:
    async def run(items: Sequence[int]) -> list[int | BaseException]:
        if 3 in items:
            raise RuntimeError("database down")
        return [ValueError(f"bad {i}") if i == 5 else i for i in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_in_flight=1)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0  # its own batch; [1, 2, 3] went together and failed together
    assert all(isinstance(r, RuntimeError) for r in results[1:])
    with pytest.raises(ValueError, match="bad 5"):  # a per-item failure
        await coalescer.submit(5)
    assert await coalescer.submit(7) == 7  # and it keeps working afterwards


@pytest.fixture
async def client(edge_app: Any) -> Any:
    transport = httpx.ASGITransport(app=edge_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as c:
        yield c


async def test_concurrent_heartbeats_share_statements(
    client: httpx.AsyncClient, edge_app: Any, services: Services, placement: Placement
) -> None:
    paired = [await pair(client, services, placement) for _ in range(12)]
    writer = edge_app.state.edge_context.heartbeats
    before = writer.flushes
    responses = await asyncio.gather(
        *(client.post("/v1/device/heartbeat", json=HEARTBEAT, headers=p.auth) for p in paired)
    )
    assert [r.status_code for r in responses] == [200] * 12
    assert writer.flushes - before < 12
    async with services.engine.connect() as conn:
        online = await conn.scalar(
            select(func.count()).select_from(devices).where(devices.c.status == "online")
        )
        moved = await conn.scalar(select(func.count()).select_from(device_status_transitions))
    assert (online, moved) == (12, 12)


async def test_one_device_heartbeating_concurrently_changes_status_once(
    client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    device = await pair(client, services, placement)
    responses = await asyncio.gather(
        *(
            client.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth)
            for _ in range(6)
        )
    )
    assert [r.status_code for r in responses] == [200] * 6
    async with services.engine.connect() as conn:
        moved = await conn.scalar(select(func.count()).select_from(device_status_transitions))
    assert moved == 1
