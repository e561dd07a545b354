"""The simulator against the real admin API and device edge over real HTTP: a small fleet
pairs, heartbeats, polls its plan, plays and uploads proof-of-play, and the server's report
(GraphQL and CSV) ends up with exactly what the players had acknowledged."""

from __future__ import annotations

import argparse
import uuid

import sqlalchemy as sa

from core.bootstrap import Services
from core.db.tables import proof_of_play_events
from simulator import cli
from simulator.runner import simulate
from tests.simulator.conftest import Stack


async def test_small_fleet_runs_clean_and_totals_match(stack: Stack, services: Services) -> None:
    lines: list[str] = []
    result = await simulate(stack.config(devices_per_store=2), out=lines.append)

    stats, ledger = result.stats, result.stats.ledger
    assert result.setup_error is None, result.setup_error
    assert stats.errors == 0, {n: s.error_breakdown() for n, s in stats.endpoints.items()}
    assert stats.anomalies == 0, stats.anomaly_samples
    assert stats.players_paired == 5 and stats.players_failed == 0, stats.failures
    assert result.check is not None and result.check.ok, result.check
    assert result.exit_code == 0

    # The fleet really did what players do.
    assert ledger.acked_ends >= 5 * 3, ledger  # ~1 s items at x20 over 6 s
    assert ledger.acked_starts >= ledger.acked_ends
    assert ledger.generated == ledger.acked
    assert stats.endpoints["heartbeat"].requests >= 5
    assert stats.endpoints["plan"].outcomes[200] >= 5
    assert stats.endpoints["plan"].outcomes[304] >= 5  # polls with If-None-Match
    assert stats.token_refreshes >= 5  # 4 s access tokens, refreshed before expiry
    assert stats.endpoints["pairing/claim"].outcomes[200] == 5

    # Cross-check the report against the raw log the edge wrote.
    assert result.placement is not None
    events = proof_of_play_events.c
    async with services.engine.connect() as conn:
        stored, scheduled, stores = (
            await conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.count().filter(events.schedule_id.is_not(None)),
                    sa.func.count(sa.distinct(events.store_id)),
                ).where(events.campaign_id == uuid.UUID(result.placement.campaign_id))
            )
        ).one()
    assert stored == ledger.acked
    assert scheduled == stored  # schedule (and campaign) ids carried from the plan
    assert stores == len(result.placement.store_ids) == 3  # 5 players, 2 per store

    text = "\n".join(lines)
    assert "heartbeat" in text and "p99 ms" in text
    assert "PASS" in text and "MISMATCH" not in text


async def test_a_named_run_reuses_its_store_and_checks_only_its_own_events(
    stack: Stack,
) -> None:
    first = await simulate(
        stack.config(devices=2, duration_s=3.0, name="sim-reuse"), out=lambda _: None
    )
    second = await simulate(
        stack.config(devices=2, duration_s=3.0, name="sim-reuse"), out=lambda _: None
    )
    assert first.ok and second.ok, (first.check, second.check, second.stats.failures)
    assert first.placement is not None and second.placement is not None
    assert not first.placement.reused and second.placement.reused
    assert second.placement.store_ids == first.placement.store_ids
    assert second.placement.campaign_id == first.placement.campaign_id
    assert second.stats.ledger.acked_ends > 0


async def test_wrong_admin_password_fails_the_run_with_exit_code_1(stack: Stack) -> None:
    lines: list[str] = []
    result = await simulate(stack.config(admin_password="wrong"), out=lines.append)
    assert result.exit_code == 1
    assert result.setup_error is not None and "login" in result.setup_error
    assert any("setup failed" in line for line in lines)


def test_cli_arguments_map_onto_the_config() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        ["--devices", "5000", "--duration", "600", "--edge-url", "http://edge:8001", "--seed", "3"]
    )
    config = cli.config_from_args(args)
    assert (config.devices, config.duration_s, config.seed) == (5000, 600.0, 3)
    assert config.edge_url == "http://edge:8001"
    assert config.effective_ramp_s == 60.0  # one heartbeat interval by default
