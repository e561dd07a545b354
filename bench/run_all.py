"""Run every benchmark and write ONE results table, with the machine it ran on, to
docs/benchmarks.md (issue 8).

    .venv/bin/python bench/run_all.py [--only a,b] [--skip a,b] [--output docs/benchmarks.md]
                                      [--list] [--quick] [--with-simulation]
                                      [--timeout-scale 1.0]

Each benchmark runs as its own subprocess, one after the other (they would otherwise steal
each other's CPU on this 2-core machine), bounded by its own timeout: an overrun gets SIGINT
(so the script's `finally:` drops its throwaway database), then SIGKILL. Its output is shown
live and kept under `.data/bench-logs/<timestamp>/`. Figures come from the `BENCH_RESULT`
lines of bench/README.md, or, for a script that does not print them, from its summary lines
(`PARSERS`, best effort). Every figure is a ratio against a limit measured on the same
machine in the same run (see each script's docstring for how).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_results import (  # noqa: E402
    PARSERS,
    Metric,
    describe_machine,
    parse_output,
    render_markdown,
)


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]
    timeout_s: float
    what: str
    quick: tuple[str, ...] = ()  # `--quick`: small sizes, to check the machinery end to end


STEPS = (
    Step(
        "pop_ingest",
        ("bench/pop_ingest.py",),
        900,
        "proof-of-play ingest vs raw PostgreSQL",
        ("--events", "10000"),
    ),
    Step(
        "heartbeat",
        ("bench/heartbeat.py",),
        420,
        "heartbeat req/s vs bare Starlette",
        ("--devices", "200", "--seconds", "2"),
    ),
    Step(
        "plan_304",
        ("bench/plan_304.py",),
        420,
        "plan 304 req/s vs bare Starlette",
        ("--devices", "200", "--seconds", "2", "--rounds", "1"),
    ),
    Step(
        "graphql_overhead",
        ("bench/graphql_overhead.py",),
        420,
        "authenticated { me { id } } latency vs plain JSON",
        ("--requests", "200", "--rounds", "1"),
    ),
    Step(
        "plan_regen",
        ("bench/plan_regen.py", "--devices", "5000", "100000"),
        1500,
        "plan regeneration, 5,000 and 100,000 devices",
        ("bench/plan_regen.py", "--devices", "1000"),
    ),
    Step(
        "report_queries",
        ("bench/report_queries.py",),
        1200,
        "reports and CSV export",
        ("--days", "30", "--stores", "50", "--devices", "500", "--repeats", "3"),
    ),
    Step(
        "offline_sweep",
        ("bench/offline_sweep.py",),
        900,
        "offline sweep, 100,000 devices",
        ("--devices", "10000", "--stores", "200", "--runs", "2"),
    ),
)


# Opt-in (`--with-simulation`): the fleet check, ~15 minutes against a whole stack.
SIMULATION = Step(
    "simulate_stack",
    ("bench/simulate_stack.py", "--devices", "5000", "--duration", "600"),
    2400,
    "signage simulate, 5,000 devices x 600 s against `signage up`",
    ("bench/simulate_stack.py", "--devices", "50", "--duration", "20"),
)


def step_argv(step: Step, quick: bool) -> list[str]:
    if not quick or not step.quick:
        return [sys.executable, *step.argv]
    # Quick arguments either replace the script's own (when they name the script) or follow it.
    tail = step.quick if step.quick[0].endswith(".py") else (step.argv[0], *step.quick)
    return [sys.executable, *tail]


@dataclass
class StepResult:
    step: Step
    exit_code: int | None
    seconds: float
    timed_out: bool
    metrics: list[Metric] = field(default_factory=list)
    parsed_from: str = "none"
    log: Path | None = None

    @property
    def status(self) -> str:
        if self.timed_out:
            return f"timed out after {self.step.timeout_s:.0f} s"
        if self.exit_code != 0:
            return f"failed (exit {self.exit_code})"
        return "ok"


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGINT to the step's own process group, then SIGKILL if it does not end."""
    for sig, grace in ((signal.SIGINT, 60.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_step(step: Step, log_dir: Path, timeout_scale: float, quick: bool) -> StepResult:
    log = log_dir / f"{step.name}.log"
    argv = step_argv(step, quick)
    print(f"\n=== {step.name}: {step.what}\n$ {' '.join(argv)}", flush=True)
    started = time.monotonic()
    lines: list[str] = []
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: a timeout stops its servers and workers too
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    def pump() -> None:
        assert process.stdout is not None
        with log.open("w") as sink:
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                sink.write(line)
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=step.timeout_s * timeout_scale)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(process)
    reader.join(timeout=10)
    metrics, source = parse_output(step.name, lines)
    return StepResult(
        step=step,
        exit_code=process.returncode,
        seconds=time.monotonic() - started,
        timed_out=timed_out,
        metrics=metrics,
        parsed_from=source,
        log=log,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--skip", default="", help="comma-separated step names")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--timeout-scale", type=float, default=1.0)
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    parser.add_argument(
        "--with-simulation",
        action="store_true",
        help="also run the 5,000-device fleet simulation against a whole stack (~15 min)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: checks the machinery, not the targets (output marked as such)",
    )
    args = parser.parse_args()

    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    available = (*STEPS, SIMULATION)
    unknown = (only | skip) - {s.name for s in available}
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    wanted = (*STEPS, SIMULATION) if args.with_simulation else STEPS
    steps = [
        s
        for s in (available if only else wanted)
        if (not only or s.name in only) and s.name not in skip
    ]
    if args.list:
        for step in steps:
            parsed = "BENCH_RESULT or summary lines" if step.name in PARSERS else "BENCH_RESULT"
            print(f"{step.name:<15} {step.timeout_s:>6.0f} s  {step.what}  [{parsed}]")
        return 0

    started_at = datetime.now(UTC)
    log_dir = ROOT / ".data" / "bench-logs" / started_at.strftime("%Y%m%d-%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    machine: dict[str, Any] = describe_machine()
    results = [run_step(step, log_dir, args.timeout_scale, args.quick) for step in steps]
    machine["load_after"] = describe_machine(load_only=True)["load"]

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        render_markdown(results, machine, started_at, log_dir, ROOT, quick=args.quick)
    )
    print(f"\nwrote {output}")
    for result in results:
        print(
            f"  {result.step.name:<15} {result.status:<28} {len(result.metrics)} figures "
            f"({result.parsed_from}) in {result.seconds:.0f} s"
        )
    failed = [r for r in results if r.status != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
