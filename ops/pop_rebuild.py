"""`signage pop-rebuild --from DAY --to DAY [--verify-only]`: recompute or check aggregates.

The work is the core use case `core.proof_of_play.rebuild.check_or_rebuild_range`; this module
parses the arguments and prints the outcome.

Days are store-local calendar days, as in the aggregate table. Without --verify-only the range
is rebuilt from raw events and verified again before the transaction commits; with it nothing
is written. Exit codes: 0 aggregates equal the raw events (after the rebuild, if any),
1 differences were found by --verify-only or the command failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from typing import Any, TextIO

from core.clock import Clock, SystemClock
from core.config import Settings
from core.errors import ValidationFailed
from core.proof_of_play.aggregates import AggregateDifference
from core.proof_of_play.rebuild import check_or_rebuild_range

COMMAND = "pop-rebuild"
_SHOWN_DIFFERENCES = 20


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def add_arguments(subparsers: Any) -> None:
    """Register the command on `signage`'s subparsers (handler signature: (args, settings))."""
    parser = subparsers.add_parser(
        COMMAND,
        help="rebuild proof-of-play daily aggregates from raw events and verify them",
        description=__doc__,
    )
    parser.add_argument("--from", dest="start", type=_day, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=_day, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--verify-only", action="store_true", help="only compare; change nothing")
    parser.set_defaults(handler=run)


def _describe(diff: AggregateDifference) -> str:
    return (
        f"  {diff.day} campaign={diff.campaign_id} store={diff.store_id} "
        f"content={diff.content_id}: expected {diff.expected}, found {diff.actual}"
    )


async def execute(
    database_url: str,
    start: date,
    end: date,
    *,
    verify_only: bool,
    retention_days: int,
    clock: Clock,
    out: TextIO,
) -> int:
    """Run the core use case and print its outcome; returns the exit code."""
    result = await check_or_rebuild_range(
        database_url,
        start,
        end,
        verify_only=verify_only,
        retention_days=retention_days,
        clock=clock,
    )
    if result.rebuilt is None:
        for diff in result.remaining[:_SHOWN_DIFFERENCES]:
            print(_describe(diff), file=out)
        print(
            f"pop-rebuild: {start}..{end}: {len(result.remaining)} aggregate rows differ "
            "from raw events",
            file=out,
        )
        return 1 if result.remaining else 0
    if not result.committed:
        print(f"pop-rebuild: {len(result.remaining)} rows still differ; rolled back", file=out)
        return 1
    report = result.rebuilt
    print(
        f"pop-rebuild: {start}..{end}: {len(report.differences_before)} rows differed; "
        f"deleted {report.deleted_rows}, inserted {report.inserted_rows}; verified equal",
        file=out,
    )
    return 0


def run(args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None) -> int:
    from ops.cli.infra import ServiceUnavailable, services_for  # starts embedded servers

    try:
        with services_for(settings, need_redis=False) as services:
            return asyncio.run(
                execute(
                    services.database_url,
                    args.start,
                    args.end,
                    verify_only=args.verify_only,
                    retention_days=settings.pop_retention_days,
                    clock=clock or SystemClock(),
                    out=sys.stdout,
                )
            )
    except (ValidationFailed, ServiceUnavailable) as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, ServiceUnavailable) else 2
