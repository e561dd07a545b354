"""Expansion of one schedule into UTC intervals: dayparts, dates, exclusions, DST."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from core.scheduling.expansion import expand
from core.scheduling.tz import local_to_utc, offset_changes, zone
from tests.scheduling.builders import ALL_WEEK, daypart, schedule, utc

# 2026-03-02 is a Monday.
SPAN = (utc(2026, 3, 1), utc(2026, 3, 9))


def run(
    rules: dict[str, Any], tz: str = "UTC", span: tuple[datetime, datetime] = SPAN, **kw: Any
) -> list[tuple[datetime, datetime]]:
    return expand(schedule("s", "p", rules=rules, **kw), tz, *span)


def hours(intervals: list[tuple[datetime, datetime]]) -> list[float]:
    return [(end - start) / timedelta(hours=1) for start, end in intervals]


def test_weekday_daypart_in_local_time() -> None:
    got = run({"dayparts": [daypart([1], "09:00", "17:00")]}, "Europe/Berlin")
    assert got == [(utc(2026, 3, 2, 8), utc(2026, 3, 2, 16))]


def test_several_weekdays_and_overlapping_dayparts_union() -> None:
    got = run({"dayparts": [daypart([2, 4], "09:00", "12:00"), daypart([2], "11:00", "13:00")]})
    assert got == [
        (utc(2026, 3, 3, 9), utc(2026, 3, 3, 13)),
        (utc(2026, 3, 5, 9), utc(2026, 3, 5, 12)),
    ]


def test_daypart_crossing_midnight_belongs_to_its_start_weekday() -> None:
    # Friday night only: runs into Saturday morning, but nothing starts on Saturday.
    got = run({"dayparts": [daypart([5], "22:00", "02:00")]})
    assert got == [(utc(2026, 3, 6, 22), utc(2026, 3, 7, 2))]


def test_sunday_night_reaches_into_monday_from_before_the_span() -> None:
    # Sunday 2026-03-01 23:00 -> Monday 01:00; the span starts at Monday 00:00.
    got = run(
        {"dayparts": [daypart([7], "23:00", "01:00")]}, span=(utc(2026, 3, 2), utc(2026, 3, 3))
    )
    assert got == [(utc(2026, 3, 2), utc(2026, 3, 2, 1))]


@pytest.mark.parametrize(
    ("start", "end", "length"),
    [("00:00", "00:00", 24), ("06:00", "06:00", 24), ("18:00", "24:00", 6), ("18:00", "00:00", 6)],
)
def test_equal_start_and_end_mean_24_hours_and_24_00_means_midnight(
    start: str, end: str, length: float
) -> None:
    got = run({"dayparts": [daypart([3], start, end)]})
    assert hours(got) == [length]
    assert got[0][0].date() == date(2026, 3, 4)


def test_consecutive_full_days_join_into_one_interval() -> None:
    got = run({"dayparts": [daypart([1, 2], "00:00", "00:00")]})
    assert got == [(utc(2026, 3, 2), utc(2026, 3, 4))]


def test_no_dayparts_means_always_within_the_span() -> None:
    assert run({}) == [SPAN]


def test_date_ranges_select_by_start_date_and_cut_at_the_end_of_the_range() -> None:
    got = run(
        {
            "dayparts": [daypart(ALL_WEEK, "22:00", "02:00")],
            "date_ranges": [{"start": "2026-03-03", "end": "2026-03-04"}],
        }
    )
    # Monday night's tail (Tue 00-02) is not in; Wednesday night is cut at Thursday 00:00.
    assert got == [
        (utc(2026, 3, 3, 22), utc(2026, 3, 4, 2)),
        (utc(2026, 3, 4, 22), utc(2026, 3, 5)),
    ]


def test_adjacent_date_ranges_do_not_cut_an_overnight_daypart() -> None:
    got = run(
        {
            "dayparts": [daypart(ALL_WEEK, "22:00", "02:00")],
            "date_ranges": [
                {"start": "2026-03-03", "end": "2026-03-03"},
                {"start": "2026-03-04", "end": "2026-03-04"},
            ],
        }
    )
    assert got == [
        (utc(2026, 3, 3, 22), utc(2026, 3, 4, 2)),
        (utc(2026, 3, 4, 22), utc(2026, 3, 5)),
    ]


def test_exclusion_removes_occurrences_starting_that_day_but_not_yesterdays_tail() -> None:
    got = run(
        {"dayparts": [daypart(ALL_WEEK, "22:00", "02:00")], "exclusions": ["2026-03-03"]},
        span=(utc(2026, 3, 2, 12), utc(2026, 3, 5)),
    )
    assert got == [
        (utc(2026, 3, 2, 22), utc(2026, 3, 3, 2)),
        (utc(2026, 3, 4, 22), utc(2026, 3, 5)),
    ]


def test_exclusion_ranges_are_inclusive() -> None:
    got = run({"exclusions": [{"start": "2026-03-03", "end": "2026-03-05"}]})
    assert got == [(utc(2026, 3, 1), utc(2026, 3, 3)), (utc(2026, 3, 6), utc(2026, 3, 9))]


def test_validity_dates_are_inclusive_and_in_the_schedule_timezone() -> None:
    # Sydney is UTC+11 in March: local 2026-03-03 is 2026-03-02T13:00Z .. 2026-03-03T13:00Z.
    got = run({}, "Australia/Sydney", valid_from=date(2026, 3, 3), valid_to=date(2026, 3, 4))
    assert got == [(utc(2026, 3, 2, 13), utc(2026, 3, 4, 13))]


def test_campaign_dates_cut_an_overnight_daypart_at_the_last_midnight() -> None:
    got = run(
        {"dayparts": [daypart(ALL_WEEK, "20:00", "04:00")]},
        campaign="c",
        campaign_dates=(date(2026, 3, 3), date(2026, 3, 3)),
    )
    assert got == [(utc(2026, 3, 3, 20), utc(2026, 3, 4))]


def test_span_clips_the_intervals() -> None:
    got = run(
        {"dayparts": [daypart([1], "09:00", "17:00")]},
        span=(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12)),
    )
    assert got == [(utc(2026, 3, 2, 10), utc(2026, 3, 2, 12))]


# --- DST -------------------------------------------------------------------------------------
# Europe/Berlin: 2026-03-29 02:00 -> 03:00 (01:00Z); 2026-10-25 03:00 -> 02:00 (01:00Z).
# America/New_York: 2026-03-08 02:00 -> 03:00 (07:00Z); 2026-11-01 02:00 -> 01:00 (06:00Z).
# Australia/Sydney: 2026-04-05 03:00 -> 02:00 (16:00Z on 04-04); 2026-10-04 02:00 -> 03:00.


def test_transitions_are_found_to_the_second() -> None:
    year = (utc(2026, 1, 1), utc(2027, 1, 1))
    assert offset_changes("Europe/Berlin", *year) == (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1))
    assert offset_changes("America/New_York", *year) == (utc(2026, 3, 8, 7), utc(2026, 11, 1, 6))
    assert offset_changes("Australia/Sydney", *year) == (utc(2026, 4, 4, 16), utc(2026, 10, 3, 16))
    assert offset_changes("UTC", *year) == ()


@pytest.mark.parametrize(
    ("tz", "day", "minute", "expected"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 150, utc(2026, 3, 29, 1)),  # 02:30 gap -> 03:00
        ("Europe/Berlin", date(2026, 3, 29), 180, utc(2026, 3, 29, 1)),  # 03:00 exists
        ("Europe/Berlin", date(2026, 10, 25), 150, utc(2026, 10, 25, 0, 30)),  # first 02:30
        ("America/New_York", date(2026, 3, 8), 135, utc(2026, 3, 8, 7)),  # 02:15 gap
        ("America/New_York", date(2026, 11, 1), 90, utc(2026, 11, 1, 5, 30)),  # first 01:30
        ("Australia/Sydney", date(2026, 10, 4), 150, utc(2026, 10, 3, 16)),  # 02:30 gap
        ("Australia/Sydney", date(2026, 4, 5), 150, utc(2026, 4, 4, 15, 30)),  # first 02:30
    ],
)
def test_local_to_utc_rule(tz: str, day: date, minute: int, expected: datetime) -> None:
    assert local_to_utc(day, minute, zone(tz)) == expected


def test_berlin_spring_forward() -> None:
    span = (utc(2026, 3, 28), utc(2026, 3, 31))
    sunday = [7]
    assert run({"dayparts": [daypart(sunday, "02:00", "03:00")]}, "Europe/Berlin", span) == []
    assert run({"dayparts": [daypart(sunday, "02:30", "04:00")]}, "Europe/Berlin", span) == [
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    ]
    assert hours(run({"dayparts": [daypart(sunday, "01:00", "05:00")]}, "Europe/Berlin", span)) == [
        3
    ]
    assert hours(run({"dayparts": [daypart(sunday, "00:00", "00:00")]}, "Europe/Berlin", span)) == [
        23
    ]


def test_berlin_fall_back() -> None:
    span = (utc(2026, 10, 24), utc(2026, 10, 27))
    sunday = [7]
    assert run({"dayparts": [daypart(sunday, "01:00", "04:00")]}, "Europe/Berlin", span) == [
        (utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    ]
    # Inside the repeated hour: the first pass only.
    assert run({"dayparts": [daypart(sunday, "02:15", "02:45")]}, "Europe/Berlin", span) == [
        (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45))
    ]
    assert hours(run({"dayparts": [daypart(sunday, "00:00", "00:00")]}, "Europe/Berlin", span)) == [
        25
    ]


def test_new_york_overnight_dayparts_across_dst_nights() -> None:
    saturday_night = {"dayparts": [daypart([6], "22:00", "06:00")]}
    spring = run(saturday_night, "America/New_York", (utc(2026, 3, 6), utc(2026, 3, 10)))
    assert spring == [(utc(2026, 3, 8, 3), utc(2026, 3, 8, 10))]  # 7 real hours
    fall = run(saturday_night, "America/New_York", (utc(2026, 10, 30), utc(2026, 11, 3)))
    assert fall == [(utc(2026, 11, 1, 2), utc(2026, 11, 1, 11))]  # 9 real hours


def test_new_york_daypart_inside_the_gap_vanishes() -> None:
    got = run(
        {"dayparts": [daypart([7], "02:15", "02:45")]},
        "America/New_York",
        (utc(2026, 3, 7), utc(2026, 3, 10)),
    )
    assert got == []


def test_sydney_southern_hemisphere_transitions() -> None:
    whole_sunday = {"dayparts": [daypart([7], "00:00", "00:00")]}
    autumn = run(whole_sunday, "Australia/Sydney", (utc(2026, 4, 3), utc(2026, 4, 7)))
    assert autumn == [(utc(2026, 4, 4, 13), utc(2026, 4, 5, 14))]  # 25 h
    spring = run(whole_sunday, "Australia/Sydney", (utc(2026, 10, 2), utc(2026, 10, 6)))
    assert spring == [(utc(2026, 10, 3, 14), utc(2026, 10, 4, 13))]  # 23 h
    saturday_night = {"dayparts": [daypart([6], "20:00", "08:00")]}
    night = run(saturday_night, "Australia/Sydney", (utc(2026, 10, 2), utc(2026, 10, 6)))
    assert night == [(utc(2026, 10, 3, 10), utc(2026, 10, 3, 21))]  # 11 real hours


def test_same_rules_follow_each_timezone() -> None:
    rules = {"dayparts": [daypart([1], "09:00", "11:00")]}
    berlin = run(rules, "Europe/Berlin")
    new_york = run(rules, "America/New_York")
    assert berlin == [(utc(2026, 3, 2, 8), utc(2026, 3, 2, 10))]
    assert new_york == [(utc(2026, 3, 2, 14), utc(2026, 3, 2, 16))]
