"""The end-of-run summary: per-endpoint figures and the proof-of-play reconciliation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from simulator.console import PopTotals
from simulator.stats import FleetStats, Ledger

Printer = Callable[[str], None]


@dataclass(frozen=True)
class Comparison:
    label: str
    players: int
    server: int

    @property
    def ok(self) -> bool:
        return self.players == self.server


@dataclass(frozen=True)
class TotalsCheck:
    """The server's totals for the run's store (after minus before) against the players'."""

    comparisons: tuple[Comparison, ...]
    receipts_cover_acked: bool  # accepted + duplicates account for every acked event
    csv_matches_api: bool
    left_in_buffers: int

    @property
    def ok(self) -> bool:
        return (
            all(c.ok for c in self.comparisons)
            and self.receipts_cover_acked
            and self.csv_matches_api
            and self.left_in_buffers == 0
        )


def _delta(after: PopTotals, before: PopTotals) -> PopTotals:
    return PopTotals(
        plays=after.plays - before.plays,
        completed=after.completed - before.completed,
        starts=after.starts - before.starts,
        total_duration_ms=after.total_duration_ms - before.total_duration_ms,
    )


def reconcile(
    ledger: Ledger,
    api_before: PopTotals,
    api_after: PopTotals,
    csv_before: PopTotals,
    csv_after: PopTotals,
    left_in_buffers: int,
) -> TotalsCheck:
    api = _delta(api_after, api_before)
    csv = _delta(csv_after, csv_before)
    comparisons = (
        Comparison("plays (PLAY_END)", ledger.acked_ends, api.plays),
        Comparison("starts (PLAY_START)", ledger.acked_starts, api.starts),
        Comparison("completed plays", ledger.acked_completed, api.completed),
        Comparison("played time (ms)", ledger.acked_duration_ms, api.total_duration_ms),
    )
    return TotalsCheck(
        comparisons=comparisons,
        # Rejected events are not in `acked`, so every acked event is either new or a duplicate.
        receipts_cover_acked=ledger.accepted + ledger.duplicates == ledger.acked,
        csv_matches_api=csv == api,
        left_in_buffers=left_in_buffers,
    )


def summary_dict(
    stats: FleetStats, check: TotalsCheck | None, *, ok: bool, setup_error: str | None
) -> dict[str, Any]:
    """The end-of-run figures as plain JSON (`--result-json`), for scripts such as the
    benchmark suite."""
    endpoints = {}
    for name, endpoint in sorted(stats.endpoints.items()):
        p50, p95, p99 = endpoint.latency_percentiles()
        endpoints[name] = {
            "requests": endpoint.requests,
            "errors": endpoint.errors,
            "outcomes": {str(k): v for k, v in endpoint.outcomes.items()},
            "p50_ms": round(p50 * 1000, 2),
            "p95_ms": round(p95 * 1000, 2),
            "p99_ms": round(p99 * 1000, 2),
        }
    return {
        "ok": ok,
        "setup_error": setup_error,
        "requests": stats.requests,
        "errors": stats.errors,
        "http_errors": stats.http_errors,
        "transport_errors": stats.transport_errors,
        "anomalies": stats.anomalies,
        "players_paired": stats.players_paired,
        "players_failed": stats.players_failed,
        "token_refreshes": stats.token_refreshes,
        "endpoints": endpoints,
        "ledger": asdict(stats.ledger),
        "totals_match": bool(check and check.ok),
        "comparisons": [asdict(c) for c in check.comparisons] if check else [],
        "left_in_buffers": check.left_in_buffers if check else None,
        "error_samples": stats.error_samples,
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def print_endpoints(stats: FleetStats, out: Printer) -> None:
    out(
        f"{'endpoint':<18} {'requests':>9} {'errors':>7}  {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8}  statuses"
    )
    for name in sorted(stats.endpoints):
        endpoint = stats.endpoints[name]
        p50, p95, p99 = endpoint.latency_percentiles()
        statuses = " ".join(
            f"{outcome}:{count}"
            for outcome, count in sorted(endpoint.outcomes.items(), key=lambda kv: str(kv[0]))
        )
        out(
            f"{name:<18} {endpoint.requests:>9} {endpoint.errors:>7}  "
            f"{_ms(p50)} {_ms(p95)} {_ms(p99)}  {statuses}"
        )
        if endpoint.errors:
            out(f"{'':<18} errors by status: {endpoint.error_breakdown()}")


def print_check(check: TotalsCheck, ledger: Ledger, out: Printer) -> None:
    out(f"{'proof-of-play':<22} {'players':>12} {'server':>12}")
    for c in check.comparisons:
        out(f"{c.label:<22} {c.players:>12} {c.server:>12}  {'ok' if c.ok else 'MISMATCH'}")
    out(
        f"receipts: accepted {ledger.accepted} + duplicates {ledger.duplicates} "
        f"for {ledger.acked} acknowledged events, {ledger.rejected} rejected  "
        f"{'ok' if check.receipts_cover_acked else 'MISMATCH'}"
    )
    out(f"CSV export totals equal the API's: {'yes' if check.csv_matches_api else 'NO'}")
    out(
        f"events generated {ledger.generated}, still buffered {check.left_in_buffers}, "
        f"batches {ledger.batches_acked}, upload retries {ledger.upload_retries}"
    )
