"""The simulator's own logic, without a server: plan walking, the reconciliation verdict and
the latency figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator.console import PopTotals
from simulator.playback import DEFAULT_DURATION_MS, Cursor, Plan
from simulator.report import reconcile
from simulator.stats import EndpointStats, Ledger, is_success, percentile

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _item(content: str, duration: int | None) -> dict[str, object]:
    return {
        "content_id": content,
        "version": 1,
        "duration_ms": duration,
        "playlist_id": "p",
        "schedule_id": "s",
        "campaign_id": "c",
    }


PLAN = {
    "items": [_item("a", 5000), _item("b", None), _item("c", 7000)],
    "windows": [
        {"start": _iso(T), "end": _iso(T + timedelta(hours=1)), "sequence": [0, 1]},
        {
            "start": _iso(T + timedelta(hours=2)),
            "end": _iso(T + timedelta(hours=3)),
            "sequence": [2],
        },
        {
            "start": _iso(T + timedelta(hours=4)),
            "end": _iso(T + timedelta(hours=5)),
            "sequence": [],
        },
    ],
}


def test_plan_windows_are_half_open_and_gaps_are_idle() -> None:
    plan = Plan(PLAN, "e1")
    assert plan.window_at(T) is not None
    assert plan.window_at(T + timedelta(minutes=59, seconds=59)) is not None
    assert plan.window_at(T + timedelta(hours=1)) is None  # [start, end)
    assert plan.next_start_after(T + timedelta(hours=1)) == T + timedelta(hours=2)
    assert plan.window_at(T - timedelta(seconds=1)) is None
    assert plan.window_at(T + timedelta(hours=4, minutes=1)) is None  # empty sequence: idle
    assert plan.next_start_after(T + timedelta(hours=2, minutes=1)) is None


def test_cursor_loops_the_sequence_and_restarts_with_a_new_window() -> None:
    plan = Plan(PLAN, "e1")
    cursor = Cursor()
    first = plan.window_at(T)
    assert first is not None
    played = [cursor.next_item(plan, first).content_id for _ in range(5)]
    assert played == ["a", "b", "a", "b", "a"]
    assert plan.items[1].duration_ms == DEFAULT_DURATION_MS  # null: the player's default
    second = plan.window_at(T + timedelta(hours=2))
    assert second is not None
    assert cursor.next_item(plan, second).content_id == "c"
    # A new plan (new ETag) restarts the loop even for the same window.
    assert cursor.next_item(Plan(PLAN, "e2"), first).content_id == "a"


def _ledger(ends: int, starts: int, *, duplicates: int = 0) -> Ledger:
    acked = ends + starts
    return Ledger(
        generated=acked,
        acked_starts=starts,
        acked_ends=ends,
        acked_completed=ends,
        acked_duration_ms=ends * 1000,
        accepted=acked - duplicates,
        duplicates=duplicates,
    )


def _totals(plays: int, starts: int) -> PopTotals:
    return PopTotals(plays=plays, completed=plays, starts=starts, total_duration_ms=plays * 1000)


BEFORE = _totals(100, 100)  # an earlier run in the same campaign


@pytest.mark.parametrize(
    ("server_plays", "server_starts", "ok"),
    [(10, 10, True), (11, 10, False), (9, 10, False), (10, 9, False)],
    ids=["exact", "doubled-play", "lost-play", "lost-start"],
)
def test_reconcile_demands_exact_totals(server_plays: int, server_starts: int, ok: bool) -> None:
    after = _totals(100 + server_plays, 100 + server_starts)
    check = reconcile(_ledger(10, 10, duplicates=3), BEFORE, after, BEFORE, after, 0)
    assert check.ok is ok


def test_reconcile_fails_on_leftovers_csv_drift_and_unexplained_receipts() -> None:
    after = _totals(110, 110)
    assert not reconcile(_ledger(10, 10), BEFORE, after, BEFORE, after, 1).ok
    assert not reconcile(_ledger(10, 10), BEFORE, after, BEFORE, _totals(111, 110), 0).ok
    unexplained = _ledger(10, 10)
    unexplained.accepted -= 1  # one acknowledged event neither accepted nor a duplicate
    assert not reconcile(unexplained, BEFORE, after, BEFORE, after, 0).ok


def test_latency_percentiles_and_outcomes() -> None:
    stats = EndpointStats()
    for ms in range(1, 101):
        stats.record(200 if ms <= 98 else 503, ms / 1000)
    stats.record(304, 0.5)
    stats.record("timeout", 30.0)
    assert stats.requests == 102
    assert stats.errors == 3 and stats.http_errors == 2
    assert stats.error_breakdown() == {"503": 2, "timeout": 1}
    assert percentile(sorted([3.0, 1.0, 2.0]), 0.5) == 2.0
    assert percentile([], 0.99) == 0.0
    assert is_success(304) and is_success(201) and not is_success(401)
    assert not is_success("connect_error")
