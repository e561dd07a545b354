"""Store opening hours: the one parser, the write-side rules, and "is the store open at this
instant?" (`is_open`, which the monitoring sweep uses).

Stored shape (`stores.operating_hours_json`), always with all seven days in order:
`{"mon": [{"open": "09:00", "close": "21:00"}], ..., "sun": []}`. An empty list (or a missing
day) is a closed day, and an empty or missing document a store that is never open.

- An interval belongs to the weekday it OPENS on. `close` earlier than `open` runs past
  midnight into the next day ("22:00"-"02:00" on Friday covers Friday 22:00 to Saturday
  02:00); `close` may be "24:00" (the next midnight), so "00:00"-"24:00" is open all day.
- Intervals are half-open, [open, close): a store closing at 21:00 is closed at 21:00:00.
- Writes (`validate_opening_hours`) allow at most `MAX_INTERVALS_PER_DAY` intervals a day,
  refuse `close == open`, and refuse overlaps anywhere in the week (Sunday night spilling
  into Monday included). Reads (`parse_operating_hours`) apply the same grammar and limit to
  a stored document but stay lenient about what only writes refuse: `close == open` means a
  full 24 hours, and overlapping intervals mean their union.

Wall times are read in the store's IANA timezone with the scheduler's DST rule
(`core.scheduling.tz.local_to_utc`), so "open" means the same for playback and alerts: a
wall time inside a spring-forward gap takes effect at the transition instant, an ambiguous
one (the repeated hour when clocks fall back) at its first occurrence.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.scheduling.tz import local_to_utc
from core.validation import MINUTES_PER_DAY, FieldErrors, minutes_of_day

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS_PER_DAY = 6
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY

OpeningHours = dict[str, list[dict[str, str]]]


@dataclass(frozen=True)
class Interval:
    """Minutes after local midnight of the opening day; `close_minute` may exceed a day."""

    open_minute: int
    close_minute: int


@dataclass(frozen=True)
class OperatingHours:
    """Intervals per ISO weekday index (0 = Monday), sorted by opening time."""

    days: tuple[tuple[Interval, ...], ...]

    @property
    def never_open(self) -> bool:
        return not any(self.days)


CLOSED = OperatingHours(days=((),) * 7)


def closed_all_week() -> OpeningHours:
    return {day: [] for day in DAYS}


def parse_time(value: object) -> int | None:
    """Minutes since midnight of "HH:MM" (24:00 allowed, as 1440); None when malformed."""
    return minutes_of_day(value, allow_24=True)


@dataclass(frozen=True)
class _Entry:
    day: int
    path: str
    open_text: str
    close_text: str
    open_minute: int
    close_minute: int  # as written: may be <= open_minute


def _entries(raw: object, errors: FieldErrors, field: str) -> Iterator[_Entry]:
    """The well-formed intervals of a document, adding an error for everything else."""
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        errors.add(field, "invalid", "expected an object keyed by weekday")
        return
    for key in raw:
        if key not in DAYS:
            errors.add(f"{field}.{key}", "invalid_choice", f"days are {', '.join(DAYS)}")
    for index, day in enumerate(DAYS):
        intervals = raw.get(day) or []
        path = f"{field}.{day}"
        if not isinstance(intervals, list | tuple):
            errors.add(path, "invalid", "expected a list of {open, close} intervals")
            continue
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            errors.add(path, "too_many", f"at most {MAX_INTERVALS_PER_DAY} intervals a day")
            continue
        for position, item in enumerate(intervals):
            item_path = f"{path}[{position}]"
            if not isinstance(item, Mapping) or set(item) != {"open", "close"}:
                errors.add(item_path, "invalid", 'expected {"open": "HH:MM", "close": "HH:MM"}')
                continue
            opens, closes = parse_time(item["open"]), parse_time(item["close"])
            if opens is None or opens == MINUTES_PER_DAY:
                errors.add(f"{item_path}.open", "invalid_time", "use HH:MM, 00:00 to 23:59")
            if closes is None:
                errors.add(f"{item_path}.close", "invalid_time", "use HH:MM, 00:00 to 24:00")
            if opens is None or closes is None or opens == MINUTES_PER_DAY:
                continue
            yield _Entry(index, item_path, item["open"], item["close"], opens, closes)


def _week_span(entry: _Entry) -> tuple[int, int]:
    start = entry.day * MINUTES_PER_DAY + entry.open_minute
    close = entry.close_minute
    if close <= entry.open_minute:  # runs past midnight
        close += MINUTES_PER_DAY
    return start, start + close - entry.open_minute


def validate_opening_hours(
    raw: Mapping[str, Any] | None, errors: FieldErrors, field: str = "opening_hours"
) -> OpeningHours:
    """Check and normalise opening hours for storage, one error per problem in `errors`."""
    result = closed_all_week()
    spans: list[tuple[int, int, str]] = []
    for entry in _entries(raw, errors, field):
        if entry.close_minute == entry.open_minute:
            message = "close must differ from open (00:00-24:00 is all day)"
            errors.add(f"{entry.path}.close", "invalid_time", message)
            continue
        start, end = _week_span(entry)
        spans.append((start, end, entry.path))
        result[DAYS[entry.day]].append({"open": entry.open_text, "close": entry.close_text})
    for intervals in result.values():
        intervals.sort(key=lambda item: item["open"])
    _check_overlaps(spans, errors)
    return result


def _check_overlaps(spans: list[tuple[int, int, str]], errors: FieldErrors) -> None:
    # Sunday night runs into Monday: compare the week's spans with a copy shifted one week back.
    wrapped = [(s - MINUTES_PER_WEEK, e - MINUTES_PER_WEEK, p) for s, e, p in spans]
    ordered = sorted(wrapped + spans)
    for (_, prev_end, prev_path), (start, _, path) in itertools.pairwise(ordered):
        if start < prev_end and path != prev_path:
            message = f"overlaps {prev_path.split('.', 1)[-1]}"
            if not any(item["field"] == f"{path}.open" for item in errors.items):
                errors.add(f"{path}.open", "overlap", message)


def parse_operating_hours(raw: object, *, field: str = "operatingHours") -> OperatingHours:
    """Read a stored `operating_hours_json` document for `is_open`; raises ValidationFailed
    with every problem tied to its path (e.g. `operatingHours.fri[0].close`)."""
    errors = FieldErrors()
    days: list[list[Interval]] = [[] for _ in DAYS]
    for entry in _entries(raw, errors, field):
        closes = entry.close_minute
        if closes <= entry.open_minute:  # crosses midnight; equal means a full day
            closes += MINUTES_PER_DAY
        days[entry.day].append(Interval(entry.open_minute, closes))
    errors.raise_if_any()
    if not any(days):
        return CLOSED
    return OperatingHours(days=tuple(tuple(sorted(day, key=_key)) for day in days))


def _key(interval: Interval) -> tuple[int, int]:
    return (interval.open_minute, interval.close_minute)


def is_open(hours: OperatingHours, tz: ZoneInfo, at: datetime) -> bool:
    """Whether the store is open at the aware instant `at`.

    Only intervals opening on the local date of `at` or the day before can contain it:
    no interval is longer than 24 wall-clock hours.
    """
    if at.tzinfo is None:
        raise ValueError("is_open needs an aware datetime")
    if hours.never_open:
        return False
    instant = at.astimezone(UTC)
    today = instant.astimezone(tz).date()
    for day in (today - timedelta(days=1), today):
        for interval in hours.days[day.weekday()]:
            start = local_to_utc(day, interval.open_minute, tz)
            if start > instant:
                break  # sorted by opening time
            if instant < local_to_utc(day, interval.close_minute, tz):
                return True
    return False
