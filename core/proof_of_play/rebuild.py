"""The aggregate rebuild as one use case: verify, or rebuild and verify, a range of days in
one transaction on a connection of its own.

Why here and not in the command line: the rule "commit only if the rebuilt rows verify equal"
is domain logic; `signage pop-rebuild` (ops.pop_rebuild) only parses arguments and prints.
Rebuilding months of aggregates may take minutes, so the engine has no statement timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from core.clock import Clock
from core.db.engine import DbTimeouts, create_engine
from core.proof_of_play.aggregates import (
    AggregateDifference,
    RebuildReport,
    earliest_rebuildable_day,
    rebuild_aggregates,
    verify_aggregates,
)


@dataclass(frozen=True)
class RangeCheck:
    """What a run found. `rebuilt` is None for a verify-only run; `remaining` lists the rows
    that still differ afterwards (a rebuild is rolled back if any do)."""

    start: date
    end: date
    rebuilt: RebuildReport | None
    remaining: list[AggregateDifference] = field(default_factory=list)

    @property
    def committed(self) -> bool:
        return self.rebuilt is not None and not self.remaining


async def check_or_rebuild_range(
    database_url: str,
    start: date,
    end: date,
    *,
    verify_only: bool,
    retention_days: int,
    clock: Clock,
) -> RangeCheck:
    """Verify [start, end] or rebuild it from raw events; ValidationFailed for a bad range."""
    engine = create_engine(
        database_url, pool_size=1, max_overflow=0, timeouts=DbTimeouts.unbounded_statements()
    )
    try:
        async with engine.connect() as conn:
            if verify_only:
                return RangeCheck(start, end, None, await verify_aggregates(conn, start, end))
            report = await rebuild_aggregates(
                conn, start, end, not_before=earliest_rebuildable_day(clock, retention_days)
            )
            remaining = await verify_aggregates(conn, start, end)
            if remaining:  # cannot happen inside one transaction; refuse to commit if it does
                await conn.rollback()
            else:
                await conn.commit()
            return RangeCheck(start, end, report, remaining)
    finally:
        await engine.dispose()
