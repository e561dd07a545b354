"""Store opening hours: validation, normalisation, and "is the store open at this instant?".

Stored shape (`stores.operating_hours_json`), always with all seven days in order:
`{"mon": [{"open": "09:00", "close": "21:00"}], ..., "sun": []}`. An empty list is a closed
day. `close` earlier than `open` means the interval runs past midnight into the next day
("22:00"-"02:00"); "00:00"-"24:00" is open all day. Intervals of the whole week, including
Sunday night spilling into Monday, must not overlap. Times are wall-clock times in the store's
IANA timezone, so DST shifts the UTC instants, never the opening times.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from core.fleet.validation import FieldErrors

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS_PER_DAY = 6
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_TIME = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$")

OpeningHours = dict[str, list[dict[str, str]]]


def closed_all_week() -> OpeningHours:
    return {day: [] for day in DAYS}


def parse_time(value: str) -> int | None:
    """Minutes since midnight of "HH:MM" (24:00 allowed, as 1440); None when malformed."""
    match = _TIME.match(value)
    if match is None:
        return None
    if match.group(1) is None:
        return MINUTES_PER_DAY
    return int(match.group(1)) * 60 + int(match.group(2))


def _week_span(day_index: int, open_min: int, close_min: int) -> tuple[int, int]:
    start = day_index * MINUTES_PER_DAY + open_min
    if close_min <= open_min:  # runs past midnight
        close_min += MINUTES_PER_DAY
    length = close_min - open_min
    return start, start + length


def validate_opening_hours(
    raw: Mapping[str, Sequence[Mapping[str, Any]] | None] | None,
    errors: FieldErrors,
    field: str = "opening_hours",
) -> OpeningHours:
    """Check and normalise opening hours, adding one error per problem to `errors`."""
    result = closed_all_week()
    if raw is None:
        return result
    for day in raw:
        if day not in DAYS:
            errors.add(f"{field}.{day}", "invalid_choice", f"days are {', '.join(DAYS)}")
    spans: list[tuple[int, int, str]] = []
    for index, day in enumerate(DAYS):
        intervals = raw.get(day) or []
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            errors.add(
                f"{field}.{day}", "too_many", f"at most {MAX_INTERVALS_PER_DAY} intervals a day"
            )
            continue
        for position, interval in enumerate(intervals):
            path = f"{field}.{day}[{position}]"
            open_text = str(interval.get("open") or "")
            close_text = str(interval.get("close") or "")
            open_min, close_min = parse_time(open_text), parse_time(close_text)
            if open_min is None or open_min == MINUTES_PER_DAY:
                errors.add(f"{path}.open", "invalid_time", "use HH:MM between 00:00 and 23:59")
            if close_min is None:
                errors.add(f"{path}.close", "invalid_time", "use HH:MM between 00:00 and 24:00")
            if open_min is None or close_min is None or open_min == MINUTES_PER_DAY:
                continue
            if close_min == open_min:
                message = "close must differ from open (00:00-24:00 is all day)"
                errors.add(f"{path}.close", "invalid_time", message)
                continue
            start, end = _week_span(index, open_min, close_min)
            spans.append((start, end, path))
            result[day].append({"open": open_text, "close": close_text})
        result[day].sort(key=lambda item: item["open"])
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
