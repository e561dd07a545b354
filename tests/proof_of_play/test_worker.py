"""The periodic partition-maintenance actor: thin, explicit options, idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.bootstrap import Services
from core.proof_of_play.partitions import existing_partitions
from workers import runtime
from workers.proof_of_play import maintain_pop_partitions


@pytest.fixture
def worker_services(services: Services) -> Iterator[Services]:
    runtime.override_services(services)
    yield services
    runtime.override_services(None)


def test_the_actor_declares_its_queue_retries_and_time_limit() -> None:
    assert maintain_pop_partitions.queue_name == "maintenance"
    assert maintain_pop_partitions.options["max_retries"] == 5
    assert maintain_pop_partitions.options["time_limit"] == 15 * 60_000


async def test_running_it_twice_prepares_the_partitions_once(worker_services: Services) -> None:
    # The coroutine behind Dramatiq's sync wrapper, run on this test's loop and services.
    body = maintain_pop_partitions.fn.__wrapped__
    await body()
    async with worker_services.engine.connect() as conn:
        first = await existing_partitions(conn)
    await body()  # redelivery: nothing changes
    async with worker_services.engine.connect() as conn:
        assert await existing_partitions(conn) == first
    assert len(first) == 18  # 400 days of retention back from March 2026, 3 months ahead
