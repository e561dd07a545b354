"""The device edge goes away mid-run and comes back: players keep playing, buffer their
proof-of-play, retry with backoff, and in the end the server holds every event exactly once."""

from __future__ import annotations

import asyncio

import pytest

from simulator.runner import Simulation
from simulator.stats import CONNECT_ERROR
from tests.simulator.conftest import Stack


@pytest.fixture
def device_access_ttl_s() -> int:
    # Long-lived tokens here: the outage is about buffering, not about refreshing.
    return 900


async def test_events_survive_an_edge_outage(stack: Stack) -> None:
    simulation = Simulation(stack.config(duration_s=9.0, upload_interval_s=1.0), out=print)
    buffered_during_outage: list[int] = []

    async def take_the_edge_down() -> None:
        # Only once every player is paired and has had a batch acknowledged: an outage
        # during pairing (a slow, loaded machine) would test something else.
        for _ in range(1200):  # at most 60 s
            if (
                len(simulation.players) == simulation.config.devices
                and simulation.stats.ledger.batches_acked > 0
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the players never got going; no outage to test")
        await stack.edge.stop()
        await asyncio.sleep(3.0)
        # Nothing can be acknowledged while the edge is down: the players hold the events.
        buffered_during_outage.append(sum(len(p.uploader.buffer) for p in simulation.players))
        await stack.edge.start()

    chaos = asyncio.create_task(take_the_edge_down())
    result = await simulation.run()
    await chaos

    stats, ledger = result.stats, result.stats.ledger
    assert result.setup_error is None, result.setup_error
    # The outage really happened, and it was the only trouble.
    assert stats.transport_errors > 0
    assert sum(s.outcomes[CONNECT_ERROR] for s in stats.endpoints.values()) > 0
    assert stats.http_errors == 0, {n: s.error_breakdown() for n, s in stats.endpoints.items()}
    assert stats.players_failed == 0, stats.failures
    assert ledger.upload_retries > 0
    assert buffered_during_outage[0] > 0
    # Nothing lost, nothing doubled.
    assert result.check is not None and result.check.ok, result.check
    assert result.check.left_in_buffers == 0
    assert ledger.generated == ledger.acked > 0
    # An outage is still an error for the operator: the run does not pass.
    assert result.exit_code == 1
