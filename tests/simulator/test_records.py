"""What the simulator writes down for the fault-injection suite: the acknowledged event ids
(exactly the events the edge stored for the run) and the outcomes per second."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.tables import proof_of_play_events
from simulator.records import read_acked, write_timeline
from simulator.runner import simulate
from tests.simulator.conftest import Stack


async def test_the_acked_log_holds_exactly_the_stored_events(
    stack: Stack, services: Services, tmp_path: Path
) -> None:
    acked_path = tmp_path / "acked.log"
    result = await simulate(stack.config(acked_log=str(acked_path)), out=lambda _line: None)
    assert result.exit_code == 0, result.as_dict()
    assert result.placement is not None

    acked = read_acked(acked_path)
    assert len(acked) == len(set(acked)) == result.stats.ledger.acked > 0
    events = proof_of_play_events.c
    async with services.engine.connect() as conn:
        stored = {
            str(row.event_id)
            for row in await conn.execute(
                sa.select(events.event_id).where(
                    events.campaign_id == uuid.UUID(result.placement.campaign_id)
                )
            )
        }
    assert set(acked) == stored


async def test_the_timeline_counts_every_request_by_second_and_outcome(
    stack: Stack, tmp_path: Path
) -> None:
    result = await simulate(stack.config(duration_s=3.0), out=lambda _line: None)
    path = tmp_path / "timeline.json"
    write_timeline(result.stats, path)

    seconds = orjson.loads(path.read_bytes())["seconds"]
    stamps = [second for second, _ in seconds]
    assert stamps == sorted(stamps) and len(stamps) >= 3
    assert sum(sum(outcomes.values()) for _, outcomes in seconds) == result.stats.requests
    assert all(outcome in ("200", "201", "204", "304") for _, o in seconds for outcome in o)


def test_a_torn_last_line_is_not_an_id(tmp_path: Path) -> None:
    path = tmp_path / "acked.log"
    whole = str(uuid.uuid4())
    path.write_text(f"{whole}\n{whole[:20]}")
    assert read_acked(path) == [whole]
    assert read_acked(tmp_path / "missing.log") == []
