"""Reading benchmark output into figures, describing the machine, and writing the table
(used by bench/run_all.py; the line convention is in bench/README.md)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str
    limit: float | None = None
    limit_label: str | None = None
    ratio: float | None = None
    ratio_label: str | None = None
    target: str | None = None
    passed: bool | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Metric:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in raw.items() if k in fields})


# --- best-effort parsers for scripts that print no BENCH_RESULT line --------------------------

_NUMBER = r"([\d.,]+)"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _search(pattern: str, lines: Sequence[str]) -> re.Match[str] | None:
    for line in lines:
        match = re.search(pattern, line)
        if match:
            return match
    return None


def _all(pattern: str, lines: Sequence[str]) -> list[float]:
    return [_num(m.group(1)) for line in lines if (m := re.search(pattern, line))]


def _versus_baseline(name: str, target: float) -> Callable[[Sequence[str]], list[Metric]]:
    """`edge ... N req/s` / `baseline N req/s` lines (one pair per round: medians), and the
    script's own `ratio X%` line when it prints one (it may be a ratio of medians)."""

    def parse(lines: Sequence[str]) -> list[Metric]:
        edges = _all(rf"^edge\b.*?\s{_NUMBER} req/s", lines)  # "edge" or "edge 304"
        bases = _all(rf"^baseline\s+{_NUMBER} req/s", lines)
        if not (edges and bases):
            return []
        value, limit = statistics.median(edges), statistics.median(bases)
        stated = _search(r"^ratio\s+([\d.]+)%", lines)
        ratio = _num(stated.group(1)) / 100 if stated else (value / limit if limit else None)
        return [
            Metric(
                name=name,
                value=value,
                unit="req/s",
                limit=limit,
                limit_label="bare Starlette endpoint, same load tool",
                ratio=ratio,
                ratio_label="edge / baseline",
                target=f">= {target:.0%}",
                passed=None if ratio is None else ratio >= target,
            )
        ]

    return parse


def _pop_ingest(lines: Sequence[str]) -> list[Metric]:
    raw = _search(rf"PostgreSQL idempotent insert.*?:\s*{_NUMBER} events/s", lines)
    http = _search(rf"HTTP end to end, one edge process:\s*{_NUMBER} events/s", lines)
    if not (raw and http):
        return []
    value, limit = _num(http.group(1)), _num(raw.group(1))
    ratio = value / limit if limit else None
    return [
        Metric(
            name="proof-of-play ingest through HTTP, one edge process",
            value=value,
            unit="events/s",
            limit=limit,
            limit_label="PostgreSQL idempotent insert (by event_id alone) of the same rows",
            ratio=ratio,
            ratio_label="HTTP / PostgreSQL",
            target=">= 60%",
            passed=None if ratio is None else ratio >= 0.6,
        )
    ]


def _plan_regen(lines: Sequence[str]) -> list[Metric]:
    metrics = []
    pattern = re.compile(
        r"\[\s*(\d+) devices\] change -> all plans stored:\s*([\d.]+) s; "
        r"-> all stored and ETags cached:\s*([\d.]+) s \((\d+)/\d+ stored, (\d+)/\d+ cached\)"
    )
    for line in lines:
        match = pattern.search(line)
        if not match:
            continue
        devices, seconds = int(match.group(1)), float(match.group(3))
        complete = match.group(4) == match.group(5) == match.group(1)
        name = f"plan regeneration after a group-wide change, {devices:,} devices"
        if not complete:
            name += (
                f" (INCOMPLETE: {int(match.group(4)):,} stored, {int(match.group(5)):,} cached "
                "when the script gave up)"
            )
        metrics.append(
            Metric(
                name=name,
                value=seconds,
                unit="s",
                limit=60.0,
                limit_label="the 60 s budget",
                ratio=seconds / 60.0,
                ratio_label="time / 60 s budget",
                target="<= 60 s" + ("" if devices >= 100_000 else " (budget of the 100,000 case)"),
                passed=complete and seconds <= 60.0,
            )
        )
    return metrics


def _offline_sweep(lines: Sequence[str]) -> list[Metric]:
    sweeps = [
        float(m.group(1))
        for line in lines
        if (m := re.search(r"sweep \d+:\s*([\d.]+) ms wall", line))
    ]
    devices = _search(r"generated (\d+) devices", lines)
    count = f"{int(devices.group(1)):,}" if devices else "100,000"
    metrics = []
    for label, value in (
        (f"offline sweep over {count} devices, first sweep (does the work)", sweeps[:1]),
        (f"offline sweep over {count} devices, steady state (best later sweep)", sweeps[1:]),
    ):
        if value:
            seconds = min(value) / 1000
            metrics.append(
                Metric(
                    name=label,
                    value=seconds * 1000,
                    unit="ms",
                    limit=1000.0,
                    limit_label="the 1 s budget",
                    ratio=seconds,
                    ratio_label="time / 1 s budget",
                    target="< 1 s",
                    passed=seconds < 1.0,
                )
            )
    return metrics


PARSERS: dict[str, Callable[[Sequence[str]], list[Metric]]] = {
    "pop_ingest": _pop_ingest,
    "heartbeat": _versus_baseline("heartbeat req/s, one edge process", 0.25),
    "plan_304": _versus_baseline("plan 304 req/s, one edge process", 0.40),
    "plan_regen": _plan_regen,
    "offline_sweep": _offline_sweep,
}


def parse_output(step: str, lines: Sequence[str]) -> tuple[list[Metric], str]:
    """The step's figures, and where they came from: `BENCH_RESULT`, `summary lines`, `none`."""
    metrics: list[Metric] = []
    for line in lines:
        if line.startswith(RESULT_PREFIX):
            try:
                body = json.loads(line[len(RESULT_PREFIX) :])
                metrics.extend(Metric.from_json(m) for m in body.get("metrics", []))
            except (ValueError, TypeError):
                continue
    if metrics:
        return metrics, "BENCH_RESULT"
    parser = PARSERS.get(step)
    if parser is not None:
        try:
            parsed = parser(lines)
        except (ValueError, IndexError):
            parsed = []
        if parsed:
            return parsed, "summary lines"
    return [], "none"


# --- the machine ------------------------------------------------------------------------------


def _first(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        return None
    return None


def _postgres_version() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    code = (
        "import asyncio, asyncpg, sys\n"
        "from sqlalchemy.engine import make_url\n"
        "u = make_url(sys.argv[1]).set(drivername='postgresql')\n"
        "async def v():\n"
        "    c = await asyncpg.connect(u.render_as_string(hide_password=False))\n"
        "    print(await c.fetchval('SHOW server_version')); await c.close()\n"
        "asyncio.run(v())\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, url], capture_output=True, text=True, timeout=20
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _redis_version() -> str:
    try:
        import redis

        client = redis.Redis.from_url(
            os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=5
        )
        version = str(client.info("server").get("redis_version", "unknown"))
        client.close()
        return version
    except Exception:  # any failure just means "unknown" in the description
        return "unknown"


def _package(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "not installed"


def describe_machine(*, load_only: bool = False) -> dict[str, Any]:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    if load_only:
        return {"load": load}
    mem_kib = _first("/proc/meminfo", "MemTotal") or "0 kB"
    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable",
        "ram": f"{int(mem_kib.split()[0]) / 2**20:.1f} GiB",
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "postgres": _postgres_version(),
        "redis": _redis_version(),
        "servers": f"uvicorn {_package('uvicorn')}, uvloop {_package('uvloop')}, "
        f"httptools {_package('httptools')}",
        "load_tool": "wrk" if shutil.which("wrk") else "asyncio raw HTTP/1.1 (bench/load.py)",
        "load": load,
    }


# --- the table --------------------------------------------------------------------------------


class StepOutcome(Protocol):
    metrics: list[Metric]
    parsed_from: str
    seconds: float
    log: Path | None

    @property
    def status(self) -> str: ...

    @property
    def step(self) -> Any: ...


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def _verdict(passed: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[passed]


def render_markdown(
    results: Sequence[StepOutcome],
    machine: dict[str, Any],
    started_at: datetime,
    log_dir: Path,
    root: Path,
    *,
    quick: bool = False,
) -> str:
    out = ["# Benchmarks", ""]
    if quick:
        out += [
            "> **Quick smoke run** (`--quick`): small sizes that check the machinery only. "
            "These are not the benchmark figures; run `make bench` for those.",
            "",
        ]
    out += [
        f"Generated by `bench/run_all.py` on {started_at:%Y-%m-%d %H:%M} UTC "
        "(`make bench` regenerates this file; how each figure is measured is in "
        "`bench/README.md` and each script's docstring).",
        "",
        "Every figure is compared with a limit measured **on the same machine in the same "
        "run**: a bare Starlette endpoint under the same load tool, PostgreSQL doing the same "
        "work alone, or the issue's time budget. The ratio is what counts on a shared machine.",
        "",
        "## Results",
        "",
        "| Figure | Measured | Limit on this machine (same run) | Ratio | Target | Met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for m in result.metrics:
            limit = f"{_fmt(m.limit, m.unit)} ({m.limit_label})" if m.limit is not None else "—"
            ratio = f"{m.ratio:.1%}" if m.ratio is not None else "—"
            if m.ratio_label and m.ratio is not None:
                ratio += f" ({m.ratio_label})"
            out.append(
                f"| {m.name} | {_fmt(m.value, m.unit)} | {limit} | {ratio} | "
                f"{m.target or '—'} | {_verdict(m.passed)} |"
            )
        if not result.metrics:
            out.append(
                f"| {result.step.what} | no figures ({result.status}) | — | — | — | **no** |"
            )
    out += [
        "",
        "## Steps",
        "",
        "| Step | Status | Figures read from | Wall time | Log |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in results:
        log = result.log.relative_to(root) if result.log else "—"
        out.append(
            f"| `{result.step.name}` | {result.status} | {result.parsed_from} | "
            f"{result.seconds:.0f} s | `{log}` |"
        )
    out += [
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {machine['cpu']} |",
        f"| Cores | {machine['cores']} |",
        f"| RAM | {machine['ram']} |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        f"| PostgreSQL | {machine['postgres']} |",
        f"| Redis | {machine['redis']} |",
        f"| HTTP servers | {machine['servers']} |",
        f"| Load tool | {machine['load_tool']} |",
        f"| Load average (1/5/15 min) | before: {machine['load']}; after: "
        f"{machine.get('load_after', '?')} |",
        "",
        "The machine is shared (other work runs beside the benchmarks), which is why every "
        "figure is judged as a ratio against a limit measured in the same run, and why the "
        "benchmarks run one at a time.",
        "",
        f"Raw output of this run: `{log_dir.relative_to(root)}/`.",
        "",
    ]
    return "\n".join(out)
