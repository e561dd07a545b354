"""Expanding one schedule's rules into UTC intervals, by interval arithmetic.

Every daypart occurrence is anchored to the local date it STARTS on, and that date decides
whether it runs:

- campaign dates, the schedule's valid_from/valid_to and its date_ranges are hard bounds:
  an occurrence must start on an allowed date, and an overnight occurrence is cut at the
  local midnight that leaves the allowed dates (a campaign ending on the 31st never plays
  on the 1st);
- exclusions remove the occurrences that start on an excluded date, whole: the tail of an
  overnight daypart that started the evening before still plays.

Local wall times become UTC through `tz.local_to_utc` (gap -> transition instant,
ambiguous -> first occurrence). The same helpers drive `explain`, so what explain says and
what the plan contains cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.scheduling.inputs import ScheduleInput
from core.scheduling.rules import Daypart
from core.scheduling.tz import local_date, local_to_utc, zone
from core.validation import MINUTES_PER_DAY

_ONE_DAY = timedelta(days=1)
_ALL_WEEK = (1, 2, 3, 4, 5, 6, 7)

Interval = tuple[datetime, datetime]


class Blocked(StrEnum):
    """Why a date does not let an occurrence run."""

    OUTSIDE_CAMPAIGN = "outside_campaign"
    OUTSIDE_DATES = "outside_dates"
    EXCLUDED = "excluded"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One daypart on one local date, before any date rule is applied."""

    start_date: date
    start: datetime
    end: datetime


def _within(day: date, first: date | None, last: date | None) -> bool:
    return (first is None or first <= day) and (last is None or day <= last)


def hard_bound(schedule: ScheduleInput, day: date) -> Blocked | None:
    """Campaign dates, validity and date ranges: the bounds an occurrence is cut at."""
    if not _within(day, schedule.campaign_start, schedule.campaign_end):
        return Blocked.OUTSIDE_CAMPAIGN
    if not _within(day, schedule.valid_from, schedule.valid_to):
        return Blocked.OUTSIDE_DATES
    ranges = schedule.rules.date_ranges
    if ranges and not any(r.contains(day) for r in ranges):
        return Blocked.OUTSIDE_DATES
    return None


def start_blocked(schedule: ScheduleInput, day: date) -> Blocked | None:
    """Whether an occurrence starting on `day` runs at all."""
    bound = hard_bound(schedule, day)
    if bound is not None:
        return bound
    if any(r.contains(day) for r in schedule.rules.exclusions):
        return Blocked.EXCLUDED
    return None


def _dayparts(schedule: ScheduleInput) -> tuple[tuple[tuple[int, ...], int, int], ...]:
    """(weekdays, start minute, length minutes); no dayparts means all day, every day."""
    parts: tuple[Daypart, ...] = schedule.rules.dayparts
    if not parts:
        return ((_ALL_WEEK, 0, MINUTES_PER_DAY),)
    return tuple((p.weekdays, p.start_minute, p.length_minutes) for p in parts)


def raw_occurrences(
    schedule: ScheduleInput, tz: ZoneInfo, span_start: datetime, span_end: datetime
) -> list[Occurrence]:
    """Occurrences overlapping [span_start, span_end), ignoring every date rule. Starts one
    local day early because an overnight daypart from the day before may reach in."""
    parts = _dayparts(schedule)
    found: list[Occurrence] = []
    day = local_date(span_start, tz) - _ONE_DAY
    last = local_date(span_end, tz)
    while day <= last:
        weekday = day.isoweekday()
        for weekdays, start_minute, length in parts:
            if weekday not in weekdays:
                continue
            start = local_to_utc(day, start_minute, tz)
            end = local_to_utc(day, start_minute + length, tz)
            if start < end and end > span_start and start < span_end:
                found.append(Occurrence(day, start, end))
        day += _ONE_DAY
    return found


def cut_end(schedule: ScheduleInput, occurrence: Occurrence, tz: ZoneInfo) -> Interval:
    """The occurrence's real end: cut at midnight if the next local date is out of bounds.
    Returns (cut instant, original end) when cut, else (end, end)."""
    midnight = local_to_utc(occurrence.start_date + _ONE_DAY, 0, tz)
    if occurrence.end > midnight and hard_bound(schedule, occurrence.start_date + _ONE_DAY):
        return (max(midnight, occurrence.start), occurrence.end)
    return (occurrence.end, occurrence.end)


def merge_intervals(intervals: list[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, with touching intervals joined."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def expand(
    schedule: ScheduleInput, tz_name: str, span_start: datetime, span_end: datetime
) -> list[Interval]:
    """The UTC intervals within [span_start, span_end) during which the schedule is active
    by its own rules (enabled and playlist checks belong to resolution)."""
    tz = zone(tz_name)
    intervals: list[Interval] = []
    for occurrence in raw_occurrences(schedule, tz, span_start, span_end):
        if start_blocked(schedule, occurrence.start_date) is not None:
            continue
        end, _ = cut_end(schedule, occurrence, tz)
        start, end = max(occurrence.start, span_start), min(end, span_end)
        if start < end:
            intervals.append((start, end))
    return merge_intervals(intervals)
