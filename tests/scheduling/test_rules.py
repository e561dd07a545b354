"""rules_json validation: canonical forms and precise, field-level errors."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.errors import ValidationFailed
from core.scheduling import ScheduleRules, parse_rules, validate_timezone

CONTENT = "6f1c1f8e-8f0e-4b8e-9a55-3c0a0b7c8d11"


def errors_of(raw: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        parse_rules(raw)
    return [(e["field"], e["code"]) for e in caught.value.errors]


def test_empty_rules_mean_always() -> None:
    rules = parse_rules({})
    assert rules == ScheduleRules()
    assert rules.to_json() == {
        "dayparts": [],
        "date_ranges": [],
        "exclusions": [],
        "frequency_caps": [],
    }


def test_full_rules_round_trip_in_canonical_form() -> None:
    raw = {
        "dayparts": [
            {"weekdays": [5, 1, 3], "start": "22:00", "end": "02:00"},
            {"weekdays": [6], "start": "00:00", "end": "24:00"},
        ],
        "date_ranges": [{"start": "2026-03-01", "end": "2026-03-31"}],
        "exclusions": ["2026-03-15", {"start": "2026-03-20", "end": "2026-03-22"}],
        "frequency_caps": [
            {"scope": "ITEM", "max_plays": 4, "per_seconds": 3600, "content_id": CONTENT},
            {"scope": "CAMPAIGN", "max_plays": 10, "per_seconds": 3600},
        ],
    }
    rules = parse_rules(raw)
    dumped = rules.to_json()
    assert dumped["dayparts"][0]["weekdays"] == [1, 3, 5]
    assert dumped["exclusions"] == ["2026-03-15", {"start": "2026-03-20", "end": "2026-03-22"}]
    assert rules.exclusions[0].start == rules.exclusions[0].end == date(2026, 3, 15)
    # Parsing the canonical form again is a fixed point.
    assert parse_rules(dumped) == rules
    assert parse_rules(dumped).to_json() == dumped


def test_daypart_lengths() -> None:
    rules = parse_rules(
        {
            "dayparts": [
                {"weekdays": [1], "start": "09:00", "end": "17:30"},
                {"weekdays": [1], "start": "22:00", "end": "02:00"},
                {"weekdays": [1], "start": "00:00", "end": "00:00"},
                {"weekdays": [1], "start": "06:00", "end": "06:00"},
                {"weekdays": [1], "start": "18:00", "end": "24:00"},
            ]
        }
    )
    assert [d.length_minutes for d in rules.dayparts] == [510, 240, 1440, 1440, 360]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], [("rules", "invalid_type")]),
        (None, [("rules", "invalid_type")]),
        ({"colour": "red"}, [("rules.colour", "unknown_field")]),
        (
            {"dayparts": [{"weekdays": [1], "start": "9:00", "end": "25:00"}]},
            [
                ("rules.dayparts[0].start", "invalid_time"),
                ("rules.dayparts[0].end", "invalid_time"),
            ],
        ),
        (
            {"dayparts": [{"weekdays": [1], "start": "24:00", "end": "10:00"}]},
            [("rules.dayparts[0].start", "invalid_time")],
        ),
        (
            {"dayparts": [{"weekdays": [0, 8], "start": "09:00", "end": "10:00"}]},
            [
                ("rules.dayparts[0].weekdays[0]", "out_of_range"),
                ("rules.dayparts[0].weekdays[1]", "out_of_range"),
            ],
        ),
        (
            {"dayparts": [{"weekdays": [], "start": "09:00", "end": "10:00"}]},
            [("rules.dayparts[0].weekdays", "too_short")],
        ),
        (
            {"dayparts": [{"weekdays": [2, 3, 2], "start": "09:00", "end": "10:00"}]},
            [("rules.dayparts[0].weekdays[2]", "duplicate")],
        ),
        (
            {"dayparts": [{"weekdays": ["1"], "start": "09:00", "end": "10:00"}]},
            [("rules.dayparts[0].weekdays[0]", "invalid_type")],
        ),
        (
            {"dayparts": [{"weekdays": [1], "start": "09:00"}]},
            [("rules.dayparts[0].end", "required")],
        ),
        (
            {"dayparts": [{"weekdays": [1], "start": "09:00", "end": "10:00", "x": 1}]},
            [("rules.dayparts[0].x", "unknown_field")],
        ),
        (
            {
                "dayparts": [
                    {"weekdays": [1], "start": "09:00", "end": "10:00"},
                    {"weekdays": [1], "start": "09:00", "end": "10:00"},
                ]
            },
            [("rules.dayparts[1]", "duplicate")],
        ),
        (
            {"date_ranges": [{"start": "2026-03-05", "end": "2026-03-01"}]},
            [("rules.date_ranges[0].end", "range_order")],
        ),
        (
            {"date_ranges": [{"start": "2026-02-30", "end": 20260301}]},
            [
                ("rules.date_ranges[0].start", "invalid_date"),
                ("rules.date_ranges[0].end", "invalid_date"),
            ],
        ),
        (
            {"exclusions": ["2026-13-01", {"start": "2026-01-02", "end": "2026-01-01"}, 7]},
            [
                ("rules.exclusions[0]", "invalid_date"),
                ("rules.exclusions[1].end", "range_order"),
                ("rules.exclusions[2]", "invalid_type"),
            ],
        ),
        (
            {"frequency_caps": [{"scope": "DEVICE", "max_plays": 0, "per_seconds": -1}]},
            [
                ("rules.frequency_caps[0].scope", "invalid_choice"),
                ("rules.frequency_caps[0].max_plays", "out_of_range"),
                ("rules.frequency_caps[0].per_seconds", "out_of_range"),
            ],
        ),
        (
            {"frequency_caps": [{"scope": "ITEM", "max_plays": "3", "per_seconds": 60.5}]},
            [
                ("rules.frequency_caps[0].max_plays", "invalid_type"),
                ("rules.frequency_caps[0].per_seconds", "invalid_type"),
            ],
        ),
        (
            {"frequency_caps": [{"scope": "ITEM", "max_plays": True, "per_seconds": 60}]},
            [("rules.frequency_caps[0].max_plays", "invalid_type")],
        ),
        (
            {
                "frequency_caps": [
                    {"scope": "ITEM", "max_plays": 1, "per_seconds": 60, "content_id": "x"}
                ]
            },
            [("rules.frequency_caps[0].content_id", "invalid_uuid")],
        ),
        (
            {
                "frequency_caps": [
                    {"scope": "CAMPAIGN", "max_plays": 1, "per_seconds": 60, "content_id": CONTENT}
                ]
            },
            [("rules.frequency_caps[0].content_id", "not_allowed")],
        ),
        (
            {
                "frequency_caps": [
                    {"scope": "ITEM", "max_plays": 1, "per_seconds": 60},
                    {"scope": "ITEM", "max_plays": 5, "per_seconds": 60},
                ]
            },
            [("rules.frequency_caps[1]", "duplicate")],
        ),
        (
            {"frequency_caps": [{"scope": "ITEM", "max_plays": 1, "per_seconds": 60}] * 21},
            [("rules.frequency_caps", "too_many")],
        ),
    ],
)
def test_field_level_errors(raw: object, expected: list[tuple[str, str]]) -> None:
    assert errors_of(raw) == expected


def test_error_carries_message_and_first_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_rules({"dayparts": [{"weekdays": [1], "start": "x", "end": "10:00"}]})
    error = caught.value
    assert error.code == "validation_error"
    assert error.field == "rules.dayparts[0].start"
    assert error.errors[0]["message"].startswith("Expected a time HH:MM")


def test_field_prefix_can_be_changed() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_rules({"x": 1}, field="input.rules")
    assert caught.value.errors[0]["field"] == "input.rules.x"


def test_rules_are_immutable() -> None:
    rules = parse_rules({"dayparts": [{"weekdays": [1], "start": "09:00", "end": "10:00"}]})
    with pytest.raises(Exception, match="frozen"):
        rules.dayparts[0].start = "10:00"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"])
def test_valid_timezones(name: str) -> None:
    assert validate_timezone(name) == name


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "required"),
        (None, "required"),
        ("Mars/Olympus", "invalid_timezone"),
        ("europe/berlin", "invalid_timezone"),
        ("../../etc/passwd", "invalid_timezone"),
        ("Europe", "invalid_timezone"),
    ],
)
def test_invalid_timezones(name: Any, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_timezone(name, field="input.timezone")
    assert caught.value.errors == [
        {"field": "input.timezone", "code": code, "message": caught.value.message}
    ]
