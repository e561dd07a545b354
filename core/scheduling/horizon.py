"""The plan horizon, anchored to UTC day boundaries rather than to "now".

A plan computed at 00:05 and one computed at 23:55 the same UTC day are byte-identical, so
ETags stay stable all day and plans only roll forward when the boundary passes.

Horizon = [midnight UTC today, midnight + 1 day + 72 h + 6 h). At any instant of the day a
fresh plan covers more than 78 h ahead; after the boundary, yesterday's plan still covers
at least 72 h for another 6 h, which is the grace the periodic roll-forward job has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

BOUNDARY = timedelta(days=1)
LOOKAHEAD = timedelta(hours=72)
GRACE = timedelta(hours=6)
LENGTH = BOUNDARY + LOOKAHEAD + GRACE


@dataclass(frozen=True, slots=True)
class Horizon:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("horizon bounds must be aware datetimes")
        if not self.start < self.end:
            raise ValueError("horizon start must precede its end")

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def horizon_for(now: datetime) -> Horizon:
    """The horizon a plan generated at `now` must cover."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Horizon(start, start + LENGTH)


def needs_roll(valid_to: datetime, now: datetime) -> bool:
    """True when a stored plan was made for an earlier boundary than `now`'s: the periodic
    roll-forward job regenerates exactly these (within GRACE they still cover 72 h)."""
    return valid_to < horizon_for(now).end
