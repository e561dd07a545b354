"""bench/run_all.py's reading of benchmark output: the BENCH_RESULT convention first, the
scripts' summary lines as a fallback, and the markdown table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.bench_results import Metric, parse_output, render_markdown

HEARTBEAT = """\
baseline       16286 req/s  (163188 requests in 10.0 s, 0 failed, tool=wrk)
edge            4686 req/s  (16975 requests in 10.1 s, 0 failed, tool=wrk)
ratio      28.8% (target >= 25%)
""".splitlines()

PLAN_304 = """\
baseline       13549 req/s  (27368 requests in 2.0 s, 0 failed, tool=wrk)
edge 304        2105 req/s  (4274 requests in 2.0 s, 0 failed, tool=wrk)
ratio      15.5% of medians (target >= 40%); per round: 16%
""".splitlines()

REGEN = [
    "[   5000 devices] change -> all plans stored:   1.31 s; -> all stored and ETags cached:"
    "   1.35 s (5000/5000 stored, 5000/5000 cached) OK (target <= 60 s)",
    "[ 100000 devices] change -> all plans stored: 180.07 s; -> all stored and ETags cached:"
    " 180.07 s (0/100000 stored, 0/100000 cached) MISSED (target <= 60 s)",
]


def test_bench_result_lines_win_and_accumulate() -> None:
    metric = {"name": "x", "value": 1.5, "unit": "s", "ratio": 0.5, "passed": True}
    lines = [
        "free-form output",
        "BENCH_RESULT " + json.dumps({"bench": "b", "metrics": [metric]}),
        "BENCH_RESULT " + json.dumps({"bench": "b", "metrics": [{**metric, "name": "y"}]}),
        "BENCH_RESULT {not json",
        *HEARTBEAT,
    ]
    metrics, source = parse_output("heartbeat", lines)
    assert source == "BENCH_RESULT"
    assert [m.name for m in metrics] == ["x", "y"]


def test_summary_lines_of_the_edge_benchmarks() -> None:
    [heartbeat], source = parse_output("heartbeat", HEARTBEAT)
    assert source == "summary lines"
    assert (heartbeat.value, heartbeat.limit, heartbeat.passed) == (4686, 16286, True)
    assert heartbeat.ratio == pytest.approx(0.288)
    [plan], _ = parse_output("plan_304", PLAN_304)
    assert (plan.value, plan.passed) == (2105, False)
    assert plan.ratio == pytest.approx(0.155)  # the script's own ratio of medians


def test_summary_lines_of_plan_regeneration_flag_an_incomplete_run() -> None:
    small, big = parse_output("plan_regen", REGEN)[0]
    assert small.value == 1.35 and small.passed
    assert big.passed is False and "INCOMPLETE" in big.name


def test_unparseable_output_gives_no_figures() -> None:
    assert parse_output("offline_sweep", ["Traceback ..."]) == ([], "none")
    assert parse_output("unknown_step", HEARTBEAT) == ([], "none")


@dataclass
class _Step:
    name: str = "heartbeat"
    what: str = "heartbeat req/s vs bare Starlette"


@dataclass
class _Outcome:
    metrics: list[Metric] = field(default_factory=list)
    parsed_from: str = "summary lines"
    seconds: float = 12.0
    log: Path | None = None
    step: Any = field(default_factory=_Step)
    status: str = "ok"


def test_the_table_has_one_row_per_figure_and_the_machine(tmp_path: Path) -> None:
    metrics, _ = parse_output("heartbeat", HEARTBEAT)
    machine = {
        k: k.upper()
        for k in ("cpu", "cores", "ram", "os", "python", "postgres", "redis", "servers")
    }
    machine |= {"load_tool": "wrk", "load": "1 / 1 / 1", "load_after": "2 / 2 / 2"}
    text = render_markdown(
        [_Outcome(metrics), _Outcome([], status="failed (exit 1)")],
        machine,
        datetime(2026, 11, 21, tzinfo=UTC),
        tmp_path / "logs",
        tmp_path,
    )
    assert "| heartbeat req/s, one edge process | 4,686 req/s | 16,286 req/s" in text
    assert "| 28.8% (edge / baseline) | >= 25% | yes |" in text
    assert "no figures (failed (exit 1))" in text
    assert "| PostgreSQL | POSTGRES |" in text and "after: 2 / 2 / 2" in text
