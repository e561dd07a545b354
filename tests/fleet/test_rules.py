"""Pure fleet rules: opening hours (overnight, closed days, week wrap, DST), timezones, policy."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ValidationFailed
from core.fleet.opening_hours import is_open, parse_operating_hours, validate_opening_hours
from core.fleet.policy import GroupPolicy, validate_policy
from core.timezones import is_valid_timezone, zone
from core.validation import FieldErrors

HOURS = {
    "mon": [{"open": "09:00", "close": "18:00"}],
    "fri": [{"open": "20:00", "close": "03:00"}],  # Friday night into Saturday
    "sat": [],
    "sun": [{"open": "22:00", "close": "01:00"}],  # Sunday night into Monday
}


def is_open_at(hours: dict[str, list[dict[str, str]]], timezone: str, at: datetime) -> bool:
    """Validated console hours judged by the one store-hours rule that monitoring uses."""
    return is_open(parse_operating_hours(hours), zone(timezone), at)


def _hours(raw: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    errors = FieldErrors()
    hours = validate_opening_hours(raw, errors)
    assert not errors, errors.items
    return hours


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-03-02T08:59", False),  # Monday before opening
        ("2026-03-02T09:00", True),
        ("2026-03-02T17:59", True),
        ("2026-03-02T18:00", False),  # close is exclusive
        ("2026-03-06T23:30", True),  # Friday night
        ("2026-03-07T02:59", True),  # spills into Saturday, a closed day
        ("2026-03-07T03:00", False),
        ("2026-03-07T12:00", False),  # Saturday closed
        ("2026-03-08T23:00", True),  # Sunday night
        ("2026-03-02T00:30", True),  # ... running into Monday (week wrap)
        ("2026-03-03T12:00", False),  # Tuesday: no key at all is closed
    ],
)
def test_is_open_at_local_times(local: str, expected: bool) -> None:
    hours = _hours(HOURS)
    instant = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert is_open_at(hours, "Europe/Berlin", instant) is expected


def test_opening_hours_follow_wall_clock_across_dst() -> None:
    hours = _hours({day: [{"open": "09:00", "close": "10:00"}] for day in ("sat", "sun")})
    # Berlin is UTC+1 on Saturday 28 March 2026 and UTC+2 from Sunday 29 March.
    assert is_open_at(hours, "Europe/Berlin", datetime(2026, 3, 28, 8, 30, tzinfo=UTC))
    assert not is_open_at(hours, "Europe/Berlin", datetime(2026, 3, 29, 8, 30, tzinfo=UTC))
    assert is_open_at(hours, "Europe/Berlin", datetime(2026, 3, 29, 7, 30, tzinfo=UTC))


def test_all_day_and_normalised_shape() -> None:
    hours = _hours({"wed": [{"open": "00:00", "close": "24:00"}]})
    assert list(hours) == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert is_open_at(hours, "UTC", datetime(2026, 3, 4, 0, 0, tzinfo=UTC))
    assert is_open_at(hours, "UTC", datetime(2026, 3, 4, 23, 59, tzinfo=UTC))
    assert not is_open_at(hours, "UTC", datetime(2026, 3, 5, 0, 0, tzinfo=UTC))


def test_intervals_are_sorted_and_validated() -> None:
    errors = FieldErrors()
    hours = validate_opening_hours(
        {
            "tue": [{"open": "14:00", "close": "18:00"}, {"open": "08:00", "close": "12:00"}],
            "xyz": [],
            "thu": [{"open": "09:00", "close": "10:00"}] * 7,
        },
        errors,
    )
    assert [i["open"] for i in hours["tue"]] == ["08:00", "14:00"]
    assert {(e["field"], e["code"]) for e in errors.items} == {
        ("opening_hours.xyz", "invalid_choice"),
        ("opening_hours.thu", "too_many"),
    }


def test_timezones() -> None:
    assert is_valid_timezone("Europe/Berlin") and is_valid_timezone("UTC")
    assert not is_valid_timezone("Europe/Atlantis")
    assert not is_valid_timezone("../../etc/passwd")
    assert not is_valid_timezone("")


def test_policy_defaults_and_following_threshold() -> None:
    assert GroupPolicy.from_json(None) == GroupPolicy(60, 180, None)
    assert GroupPolicy.from_json({"heartbeat_interval_s": 30}) == GroupPolicy(30, 90, None)
    errors = FieldErrors()
    changed = validate_policy(errors, current=GroupPolicy(60, 180), heartbeat_interval_seconds=20)
    assert changed == GroupPolicy(20, 60, None) and not errors
    kept = validate_policy(errors, current=GroupPolicy(60, 500), heartbeat_interval_seconds=20)
    assert kept.offline_threshold_s == 500
    validate_policy(errors, heartbeat_interval_seconds=4000, storage_cap_bytes=0)
    with pytest.raises(ValidationFailed) as failed:
        errors.raise_if_any()
    assert [e["field"] for e in failed.value.errors] == [
        "heartbeat_interval_seconds",
        "storage_cap_bytes",
    ]
