"""Opening hours judged in the store's timezone: overnight intervals, closed days, DST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.errors import ValidationFailed
from core.fleet.opening_hours import is_open, parse_operating_hours
from core.timezones import zone

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def open_at(hours: Any, tz_name: str, at: datetime) -> bool:
    return is_open(parse_operating_hours(hours), zone(tz_name), at)


WEEKDAYS = {"mon": [{"open": "09:00", "close": "21:00"}]}


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 3, 2, 7, 59), False),  # Monday 08:59 CET
        (utc(2026, 3, 2, 8, 0), True),  # 09:00: opening minute is open
        (utc(2026, 3, 2, 19, 59, 59), True),
        (utc(2026, 3, 2, 20, 0), False),  # 21:00: closing minute is closed
        (utc(2026, 3, 3, 10, 0), False),  # Tuesday: no key, closed
    ],
)
def test_regular_day_in_the_store_timezone(at: datetime, expected: bool) -> None:
    assert open_at(WEEKDAYS, "Europe/Berlin", at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 3, 6, 20, 59), False),  # Friday 21:59 CET
        (utc(2026, 3, 6, 21, 0), True),  # Friday 22:00
        (utc(2026, 3, 7, 0, 59), True),  # Saturday 01:59: still Friday's interval
        (utc(2026, 3, 7, 1, 0), False),  # Saturday 02:00
        (utc(2026, 3, 5, 22, 0), False),  # Thursday 23:00: Thursday is closed
        (utc(2026, 3, 9, 0, 30), True),  # Monday 01:30: Sunday's interval, across the week
        (utc(2026, 3, 8, 0, 30), False),  # Sunday 01:30: Saturday has no hours
    ],
)
def test_hours_that_cross_midnight_belong_to_the_opening_day(at: datetime, expected: bool) -> None:
    hours = {
        "fri": [{"open": "22:00", "close": "02:00"}],
        "sun": [{"open": "23:00", "close": "03:00"}],
        "sat": [],
    }
    assert open_at(hours, "Europe/Berlin", at) is expected


def test_full_days_and_24_00() -> None:
    for interval in ({"open": "00:00", "close": "00:00"}, {"open": "00:00", "close": "24:00"}):
        hours = {"mon": [interval]}
        assert open_at(hours, "UTC", utc(2026, 3, 2, 0, 0))
        assert open_at(hours, "UTC", utc(2026, 3, 2, 23, 59, 59))
        assert not open_at(hours, "UTC", utc(2026, 3, 3, 0, 0))
    same = {"mon": [{"open": "09:00", "close": "09:00"}]}  # 24 hours from 09:00
    assert open_at(same, "UTC", utc(2026, 3, 3, 8, 59))
    assert not open_at(same, "UTC", utc(2026, 3, 3, 9, 0))
    assert not open_at(same, "UTC", utc(2026, 3, 2, 8, 59))


def test_several_intervals_a_day() -> None:
    hours = {"mon": [{"open": "14:00", "close": "18:00"}, {"open": "08:00", "close": "12:00"}]}
    assert open_at(hours, "UTC", utc(2026, 3, 2, 9, 0))
    assert not open_at(hours, "UTC", utc(2026, 3, 2, 13, 0))
    assert open_at(hours, "UTC", utc(2026, 3, 2, 15, 0))


@pytest.mark.parametrize("hours", [None, {}, {day: [] for day in ("mon", "sat", "sun")}])
def test_missing_or_empty_hours_mean_closed(hours: Any) -> None:
    parsed = parse_operating_hours(hours)
    assert parsed.never_open
    assert not is_open(parsed, BERLIN, utc(2026, 3, 2, 12, 0))


def test_berlin_spring_forward_uses_wall_clock_hours() -> None:
    # Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    hours = {"sun": [{"open": "09:00", "close": "21:00"}]}
    assert not open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 6, 59))
    assert open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 7, 0))  # 09:00 CEST
    assert open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 18, 59))
    assert not open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 19, 0))  # 21:00 CEST


def test_berlin_opening_inside_the_gap_opens_at_the_transition() -> None:
    hours = {"sun": [{"open": "02:30", "close": "04:00"}]}  # 02:30 does not exist that night
    assert not open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 0, 59, 59))  # 01:59:59 CET
    assert open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 1, 59))
    assert not open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 2, 0))  # 04:00 CEST


def test_berlin_overnight_interval_across_spring_forward_is_an_hour_shorter() -> None:
    hours = {"sat": [{"open": "22:00", "close": "03:00"}]}
    assert open_at(hours, "Europe/Berlin", utc(2026, 3, 28, 21, 0))  # Sat 22:00 CET
    assert open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 0, 59))  # Sun 01:59 CET
    assert not open_at(hours, "Europe/Berlin", utc(2026, 3, 29, 1, 0))  # 03:00 CEST


def test_berlin_fall_back_closing_in_the_repeated_hour_closes_at_its_first_pass() -> None:
    # Sunday 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC); 02:30 happens twice.
    hours = {"sat": [{"open": "22:00", "close": "02:30"}]}
    assert open_at(hours, "Europe/Berlin", utc(2026, 10, 24, 20, 0))  # Sat 22:00 CEST
    assert open_at(hours, "Europe/Berlin", utc(2026, 10, 25, 0, 29))  # 02:29 CEST
    assert not open_at(hours, "Europe/Berlin", utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    assert not open_at(hours, "Europe/Berlin", utc(2026, 10, 25, 1, 15))  # 02:15 CET: no reopen


def test_berlin_fall_back_full_day_is_25_hours() -> None:
    hours = {"sun": [{"open": "00:00", "close": "24:00"}]}
    assert open_at(hours, "Europe/Berlin", utc(2026, 10, 24, 22, 0))  # Sun 00:00 CEST
    assert open_at(hours, "Europe/Berlin", utc(2026, 10, 25, 22, 59))  # Sun 23:59 CET
    assert not open_at(hours, "Europe/Berlin", utc(2026, 10, 25, 23, 0))  # Mon 00:00 CET


def test_new_york_spring_forward_shifts_the_utc_window() -> None:
    hours = {day: [{"open": "09:00", "close": "17:00"}] for day in ("fri", "sun")}
    # Friday 2026-03-06 is EST (-5), Sunday 2026-03-08 is EDT (-4).
    assert open_at(hours, "America/New_York", utc(2026, 3, 6, 14, 0))
    assert not open_at(hours, "America/New_York", utc(2026, 3, 6, 13, 59))
    assert open_at(hours, "America/New_York", utc(2026, 3, 8, 13, 0))
    assert not open_at(hours, "America/New_York", utc(2026, 3, 8, 12, 59))
    assert not open_at(hours, "America/New_York", utc(2026, 3, 8, 21, 0))


def test_new_york_overnight_across_fall_back_is_an_hour_longer() -> None:
    # Sat 2026-10-31 20:00 EDT (00:00 UTC) to Sun 06:00 EST (11:00 UTC): 11 hours.
    hours = {"sat": [{"open": "20:00", "close": "06:00"}]}
    assert not open_at(hours, "America/New_York", utc(2026, 10, 31, 23, 59))
    assert open_at(hours, "America/New_York", utc(2026, 11, 1, 0, 0))
    assert open_at(hours, "America/New_York", utc(2026, 11, 1, 6, 30))  # 01:30, second pass
    assert open_at(hours, "America/New_York", utc(2026, 11, 1, 10, 59))
    assert not open_at(hours, "America/New_York", utc(2026, 11, 1, 11, 0))


@pytest.mark.parametrize(
    ("hours", "field", "code"),
    [
        ([], "operatingHours", "invalid"),
        ({"monday": []}, "operatingHours.monday", "invalid_choice"),
        ({"mon": {"open": "09:00"}}, "operatingHours.mon", "invalid"),
        (
            {"mon": [{"open": "9:00", "close": "17:00"}]},
            "operatingHours.mon[0].open",
            "invalid_time",
        ),
        (
            {"mon": [{"open": "09:00", "close": "24:01"}]},
            "operatingHours.mon[0].close",
            "invalid_time",
        ),
        (
            {"mon": [{"open": "24:00", "close": "10:00"}]},
            "operatingHours.mon[0].open",
            "invalid_time",
        ),
        (
            {"mon": [{"open": "09:00", "close": "17:00", "x": 1}]},
            "operatingHours.mon[0]",
            "invalid",
        ),
        ({"mon": [{"open": 900, "close": "17:00"}]}, "operatingHours.mon[0].open", "invalid_time"),
    ],
)
def test_invalid_hours_name_the_field(hours: Any, field: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_operating_hours(hours)
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in caught.value.errors
    ]


def test_unknown_timezone_and_naive_instants_are_rejected() -> None:
    with pytest.raises(ValidationFailed) as caught:
        zone("Mars/Olympus_Mons")
    assert caught.value.errors[0]["code"] == "invalid_timezone"
    with pytest.raises(ValueError):
        naive = datetime(2026, 3, 2, 10, 0)  # noqa: DTZ001 - the instant must be refused
        is_open(parse_operating_hours(WEEKDAYS), BERLIN, naive)
    assert NEW_YORK.key == "America/New_York"
