"""`signage simulate`: the command line of the fleet simulator.

The `signage` CLI registers the subcommand with `add_arguments(parser)` and calls `run(args)`
lazily, so nothing in `core` imports the simulator. `python -m simulator` runs it directly.

Exit code 0 only when every request succeeded, no player failed, and the server's
proof-of-play totals equal what the players had acknowledged; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.config import (
    DEV_ADMIN_EMAIL,
    DEV_ADMIN_PASSWORD,
    SimulationConfig,
    env_default,
)


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {raw}")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {raw}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=_positive_int, default=10, help="players (default 10)")
    parser.add_argument(
        "--duration",
        type=_positive_float,
        default=60.0,
        help="seconds the players run once paired, ramp included (default 60)",
    )
    parser.add_argument(
        "--api-url",
        default=env_default("PUBLIC_API_URL", "http://127.0.0.1:8000"),
        help="admin API base URL (default $PUBLIC_API_URL or http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--edge-url",
        default=env_default("PUBLIC_EDGE_URL", "http://127.0.0.1:8001"),
        help="device edge base URL (default $PUBLIC_EDGE_URL or http://127.0.0.1:8001)",
    )
    parser.add_argument(
        "--admin-email",
        default=env_default("SIGNAGE_SIM_ADMIN_EMAIL", DEV_ADMIN_EMAIL),
        help="console login (default $SIGNAGE_SIM_ADMIN_EMAIL or the dev demo admin)",
    )
    parser.add_argument(
        "--admin-password",
        default=env_default("SIGNAGE_SIM_ADMIN_PASSWORD", DEV_ADMIN_PASSWORD),
        help="console password (default $SIGNAGE_SIM_ADMIN_PASSWORD or the dev demo password)",
    )
    parser.add_argument(
        "--devices-per-store",
        type=_positive_int,
        default=10,
        help="players per store; the run creates as many stores as needed (default 10)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=100,
        help="HTTP connections shared by the whole fleet (default 100)",
    )
    parser.add_argument(
        "--pairing-concurrency",
        type=_positive_int,
        default=32,
        help="claims exchanged at once while pairing (default 32)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed the timing jitter")
    parser.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="play content this many times faster than real time (default 1)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=_positive_int,
        default=60,
        help="heartbeat interval set on the run's group, 10-3600 s (default 60)",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=None,
        help="spread the players' start over this many seconds (default: one heartbeat interval)",
    )
    parser.add_argument(
        "--plan-poll", type=_positive_float, default=300.0, help="plan poll period, s (300)"
    )
    parser.add_argument(
        "--upload-interval",
        type=_positive_float,
        default=60.0,
        help="seconds between proof-of-play uploads per player (default 60)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=_positive_float,
        default=120.0,
        help="after the run, how long players may take to upload what they buffer (120)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="store/group name to create or reuse (default: a fresh sim-<timestamp> name)",
    )
    parser.add_argument("--timezone", default="UTC", help="timezone of a new store (UTC)")
    parser.add_argument(
        "--progress-interval", type=_positive_float, default=5.0, help="seconds between lines"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")
    parser.add_argument(
        "--result-json", default=None, metavar="PATH", help="also write the summary as JSON"
    )
    parser.add_argument(
        "--acked-log",
        default=None,
        metavar="PATH",
        help="append every proof-of-play event id the edge acknowledged, one per line",
    )
    parser.add_argument(
        "--timeline",
        default=None,
        metavar="PATH",
        help="write the requests per second and outcome as JSON at the end",
    )
    parser.add_argument(
        "--backoff-max",
        type=_positive_float,
        default=30.0,
        help="longest wait between a player's retries, s (default 30)",
    )


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        devices=args.devices,
        devices_per_store=args.devices_per_store,
        duration_s=args.duration,
        api_url=args.api_url,
        edge_url=args.edge_url,
        admin_email=args.admin_email,
        admin_password=args.admin_password,
        concurrency=args.concurrency,
        pairing_concurrency=args.pairing_concurrency,
        seed=args.seed,
        speed=args.speed,
        heartbeat_interval_s=args.heartbeat_interval,
        ramp_s=args.ramp,
        plan_poll_s=args.plan_poll,
        upload_interval_s=args.upload_interval,
        drain_timeout_s=args.drain_timeout,
        name=args.name,
        timezone=args.timezone,
        progress_interval_s=args.progress_interval,
        quiet=args.quiet,
        acked_log=args.acked_log,
        backoff_max_s=args.backoff_max,
    )


def run(args: argparse.Namespace) -> int:
    from simulator.records import write_timeline
    from simulator.runner import simulate

    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen
    try:
        result = asyncio.run(simulate(config_from_args(args)))
    except KeyboardInterrupt:
        print("simulate: interrupted", file=sys.stderr)
        return 130
    if args.result_json:
        Path(args.result_json).write_text(json.dumps(result.as_dict(), indent=2))
    if args.timeline:
        write_timeline(result.stats, args.timeline)
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="signage simulate",
        description=(
            "Drive a running stack with simulated players over HTTP: pair them with installer "
            "codes, heartbeat, poll plans, play and upload proof-of-play; then check the "
            "server's totals against what the players sent. Exit 0 only with zero errors and "
            "matching totals."
        ),
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
