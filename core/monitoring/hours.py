"""Store opening hours: is a store open at a given instant?

`stores.operating_hours_json` looks like
`{"mon": [{"open": "09:00", "close": "21:00"}], ..., "sun": []}`:

- Keys are `mon`..`sun`; a missing key or an empty list means closed that day, and an empty
  or missing document means the store is never open (so it never raises hour-based alerts).
- An interval belongs to the weekday it OPENS on. `close <= open` crosses midnight into the
  next day (`22:00`-`02:00` on Friday covers Friday 22:00 to Saturday 02:00); `close == open`
  is a full 24 hours; `close` may be `"24:00"` (the next midnight).
- Intervals are half-open, [open, close): a store closing at 21:00 is closed at 21:00:00.
- Overlapping intervals are allowed and mean their union.

Wall times are read in the store's IANA timezone with the same DST rule the scheduler uses
(`core.scheduling.tz.local_to_utc`), so "open" means the same thing for playback and alerts:

- a wall time that does not exist (spring-forward gap) takes effect at the transition
  instant: a store opening at 02:30 on a Berlin spring-forward night opens at 03:00 CEST;
- an ambiguous wall time (the repeated hour when clocks fall back) takes effect at its first
  occurrence, so a store closing at 02:30 that night closes at 02:30 CEST, the first time the
  clock shows it, and is closed through the repeated hour.

Everything here is pure: no database, no clock. The sweep evaluates it once per distinct
(timezone, hours) pair and hands PostgreSQL the ids of the stores that are open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ValidationFailed
from core.scheduling.tz import local_to_utc

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MAX_INTERVALS_PER_DAY = 12

_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class Interval:
    """Minutes after local midnight of the opening day; `close_minute` may exceed a day."""

    open_minute: int
    close_minute: int


@dataclass(frozen=True)
class OperatingHours:
    """Intervals per ISO weekday index (0 = Monday)."""

    days: tuple[tuple[Interval, ...], ...]

    @property
    def never_open(self) -> bool:
        return not any(self.days)


CLOSED = OperatingHours(days=((),) * 7)


def _minute(value: object, *, allow_24: bool) -> int | None:
    if not isinstance(value, str):
        return None
    if allow_24 and value == "24:00":
        return MINUTES_PER_DAY
    if not _TIME.match(value):
        return None
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def parse_operating_hours(raw: Any, *, field: str = "operatingHours") -> OperatingHours:
    """Validate an `operating_hours_json` document; raises ValidationFailed with every
    problem tied to its path (e.g. `operatingHours.fri[0].close`)."""
    if raw is None:
        return CLOSED
    errors: list[dict[str, str]] = []

    def add(path: str, code: str, message: str) -> None:
        errors.append({"field": path, "code": code, "message": message})

    if not isinstance(raw, dict):
        raise ValidationFailed(
            "opening hours must be an object keyed by weekday",
            field=field,
            errors=[{"field": field, "code": "invalid", "message": "expected an object"}],
        )
    days: list[list[Interval]] = [[] for _ in WEEKDAYS]
    for key, intervals in raw.items():
        path = f"{field}.{key}"
        if key not in WEEKDAYS:
            add(path, "unknown_day", f"unknown day {key!r}; use one of {', '.join(WEEKDAYS)}")
            continue
        if not isinstance(intervals, list):
            add(path, "invalid", "expected a list of {open, close} intervals")
            continue
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            add(path, "too_many", f"at most {MAX_INTERVALS_PER_DAY} intervals per day")
            continue
        for index, item in enumerate(intervals):
            item_path = f"{path}[{index}]"
            if not isinstance(item, dict) or set(item) != {"open", "close"}:
                add(item_path, "invalid", 'expected exactly {"open": "HH:MM", "close": "HH:MM"}')
                continue
            opens = _minute(item["open"], allow_24=False)
            closes = _minute(item["close"], allow_24=True)
            if opens is None:
                add(f"{item_path}.open", "invalid_time", "open must be HH:MM, 00:00 to 23:59")
            if closes is None:
                add(f"{item_path}.close", "invalid_time", "close must be HH:MM or 24:00")
            if opens is None or closes is None:
                continue
            if closes <= opens:  # crosses midnight; equal means a full day
                closes += MINUTES_PER_DAY
            days[WEEKDAYS.index(key)].append(Interval(opens, closes))
    if errors:
        message = errors[0]["message"] if len(errors) == 1 else "opening hours are not valid"
        raise ValidationFailed(message, field=errors[0]["field"], errors=errors)
    return OperatingHours(days=tuple(tuple(sorted(day, key=_key)) for day in days))


def _key(interval: Interval) -> tuple[int, int]:
    return (interval.open_minute, interval.close_minute)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone, or ValidationFailed for a name the tz database does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(
            f"unknown timezone {name!r}",
            field="timezone",
            errors=[{"field": "timezone", "code": "unknown_timezone", "message": str(exc)}],
        ) from exc


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
