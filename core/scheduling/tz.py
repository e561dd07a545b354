"""Wall-clock to UTC conversion with one deterministic rule for DST edge cases.

zoneinfo alone resolves a nonexistent wall time (spring-forward gap) with the offset from
*before* the jump, which lands somewhere inside the next hour depending on the minute. We
want "the set of existing local instants in [start, end)", so:

- a wall time in a gap maps to the instant of the transition (02:30 on a Berlin
  spring-forward night becomes 03:00 CEST): a daypart entirely inside a gap vanishes;
- an ambiguous wall time (fall-back repeated hour) maps to its first occurrence (fold=0):
  a daypart spanning the repeated hour therefore plays through both passes of it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)
_PROBE = timedelta(hours=6)


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _transition_between(lo: datetime, hi: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (lo, hi] whose offset differs from lo's (bisection to the second;
    transitions are never closer than hours apart, so one suffices)."""
    before = _offset(lo, tz)
    while hi - lo > _SECOND:
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            mid = lo + _SECOND
        if _offset(mid, tz) == before:
            lo = mid
        else:
            hi = mid
    return hi


def local_to_utc(day: date, minute_of_day: int, tz: ZoneInfo) -> datetime:
    """The UTC instant for a wall-clock minute on a local date (see module docstring)."""
    extra_days, minute = divmod(minute_of_day, 24 * 60)
    wall = datetime.combine(day + timedelta(days=extra_days), time(minute // 60, minute % 60))
    utc = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc
    # In a gap: fold=1 reads the wall time with the later offset, which lands before the jump.
    earlier = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _transition_between(earlier, utc, tz)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


@lru_cache(maxsize=4096)
def offset_changes(tz_name: str, start: datetime, end: datetime) -> tuple[datetime, ...]:
    """Instants in (start, end) where the zone's UTC offset changes, found by probing every
    six hours and bisecting: cheap, and cached because whole fleets share a few zones."""
    tz = zone(tz_name)
    changes: list[datetime] = []
    lo = start
    while lo < end:
        hi = min(lo + _PROBE, end)
        if _offset(lo, tz) != _offset(hi, tz):
            at = _transition_between(lo, hi, tz)
            if at < end:
                changes.append(at)
        lo = hi
    return tuple(changes)


def offset_minutes(instant: datetime, tz: ZoneInfo) -> int:
    return int(_offset(instant, tz).total_seconds() // 60)
