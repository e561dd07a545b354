"""`python -m faults` (`make faults`): the fault-injection suite; see docs/reliability.md.

Exit code 0 only when every fault ends with nothing lost, nothing duplicated, no stale plan
and no wedged process.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from faults import report
from faults.scenarios import FAULTS, by_name
from faults.suite import FaultResult, Suite, SuiteOptions, machine

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m faults",
        description="Inject faults into a private stack under a simulated fleet and report "
        "requests, errors, unavailability, time to recover, lost and duplicated events, "
        "stale plans and wedged processes per fault.",
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="a small fleet and short runs (a quick check; does not update the doc by default)",
    )
    parser.add_argument("--devices", type=int, help="players per fault run (default 150; 20 short)")
    parser.add_argument(
        "--tail", type=float, help="seconds the fleet runs after a fault (default 40; 15 short)"
    )
    parser.add_argument(
        "--warmup", type=float, help="seconds of steady state before a fault (default 10; 5 short)"
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated faults to run (default all: {', '.join(f.name for f in FAULTS)})",
    )
    parser.add_argument("--doc", type=Path, default=None, help=f"update this file ({DOC})")
    parser.add_argument("--no-doc", action="store_true", help="do not update the doc")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data and logs")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> SuiteOptions:
    options = SuiteOptions.short() if args.short else SuiteOptions()
    changes = {
        name: value
        for name, value in (
            ("devices", args.devices),
            ("tail_s", args.tail),
            ("warmup_s", args.warmup),
        )
        if value is not None
    }
    return dataclasses.replace(options, **changes)


def _revision() -> str:
    try:
        head = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def heading(options: SuiteOptions, started: datetime, minutes: float) -> str:
    return (
        f"Last run: {started:%Y-%m-%d %H:%M} UTC, {_revision()}, {machine()}; "
        f"{options.devices} players per fault, {options.warmup_s:g} s of steady state before "
        f"each fault and {options.tail_s:g} s after it (the run also lasts as long as the "
        f"fault), playback x{options.speed:g}, heartbeats every "
        f"{options.heartbeat_interval_s} s, uploads every {options.upload_interval_s:g} s; "
        f"{minutes:.1f} minutes in all."
    )


async def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    faults = by_name(args.only.split(",")) if args.only else list(FAULTS)
    work_dir = Path(tempfile.mkdtemp(prefix="signage-faults-"))
    suite = Suite(work_dir, options)
    results: list[FaultResult] = []
    started = datetime.now(UTC)
    try:
        await asyncio.to_thread(suite.start)
        for index, fault in enumerate(faults):
            result = await suite.run_fault(fault, index)
            results.append(result)
            print(report.table([result]).splitlines()[-1], flush=True)
    finally:
        await asyncio.to_thread(suite.stop)
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    text = report.markdown(results, heading(options, started, minutes))
    print("\n" + text)
    (work_dir / "results.md").write_text(text)
    (work_dir / "results.json").write_text(
        json.dumps([dataclasses.asdict(r) for r in results], indent=2, default=str)
    )
    doc = args.doc or (None if args.short else DOC)
    if doc is not None and not args.no_doc:
        report.write_into(doc, text)
        print(f"faults: table written to {doc}")
    passed = bool(results) and all(result.passed for result in results)
    if args.keep or not passed:
        print(f"faults: data, logs and per-fault files kept in {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(f"faults: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("faults: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
