"""Per-event validation rules, as pure functions (no database needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.proof_of_play import EventError, IngestPolicy, RejectCode
from core.proof_of_play.validation import (
    EventValidator,
    ValidEvent,
    check_content_duration,
    parse_event,
    shape_batch_json,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLICY = IngestPolicy(retention_days=400, clock_skew=timedelta(minutes=5))


def good(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": "PLAY_END",
        "device_time": "2026-03-02T09:59:00Z",
        "playlist_id": str(uuid.uuid4()),
        "content_id": str(uuid.uuid4()),
        "content_version": 1,
        "duration_ms": 15_000,
        "result": "COMPLETED",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def code_of(raw: object) -> RejectCode:
    outcome = parse_event(7, raw, NOW, POLICY)
    assert isinstance(outcome, EventError), outcome
    assert outcome.index == 7
    return outcome.code


def test_a_good_event_parses_to_canonical_values() -> None:
    event_id = str(uuid.uuid4()).upper()
    outcome = parse_event(
        0,
        good(event_id=event_id, device_time="2026-03-02T18:59:00+09:00", payload={"x": 1}),
        NOW,
        POLICY,
    )
    assert isinstance(outcome, ValidEvent)
    assert outcome.key == event_id.lower()
    assert outcome.row["device_time"] == datetime(2026, 3, 2, 9, 59, tzinfo=UTC)
    assert outcome.row["payload"] == {"x": 1}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"type": "PLAY_PAUSE"}, RejectCode.INVALID_TYPE),
        ({"type": None}, RejectCode.INVALID_TYPE),
        ({"result": "WATCHED"}, RejectCode.INVALID_RESULT),
        ({"duration_ms": -1}, RejectCode.NEGATIVE_DURATION),
        ({"duration_ms": 86_400_001}, RejectCode.DURATION_TOO_LONG),
        ({"duration_ms": "15"}, RejectCode.INVALID_DURATION),
        ({"duration_ms": True}, RejectCode.INVALID_DURATION),
        ({"duration_ms": 1.5}, RejectCode.INVALID_DURATION),
        ({"duration_ms": None}, RejectCode.MISSING_DURATION),
        ({"result": None}, RejectCode.MISSING_RESULT),
        ({"playlist_id": "not-a-uuid"}, RejectCode.INVALID_ID),
        ({"playlist_id": None}, RejectCode.INVALID_ID),
        ({"content_id": 42}, RejectCode.INVALID_ID),
        ({"campaign_id": "xyz"}, RejectCode.INVALID_ID),
        ({"schedule_id": "1234"}, RejectCode.INVALID_ID),
        ({"content_version": 0}, RejectCode.INVALID_CONTENT_VERSION),
        ({"content_version": "1"}, RejectCode.INVALID_CONTENT_VERSION),
        ({"content_version": 2**31}, RejectCode.INVALID_CONTENT_VERSION),
        ({"device_time": "yesterday"}, RejectCode.INVALID_DEVICE_TIME),
        ({"device_time": 1772445540000}, RejectCode.INVALID_DEVICE_TIME),
        ({"device_time": "2026-03-02T09:59:00"}, RejectCode.INVALID_DEVICE_TIME),
        ({"device_time": "2026-03-02T10:05:01Z"}, RejectCode.DEVICE_TIME_IN_FUTURE),
        ({"device_time": "2026-01-26T09:59:59Z"}, RejectCode.DEVICE_TIME_TOO_OLD),
        ({"payload": [1, 2]}, RejectCode.INVALID_PAYLOAD),
        ({"event_id": "abc"}, RejectCode.INVALID_EVENT_ID),
        ({"event_id": None}, RejectCode.INVALID_EVENT_ID),
    ],
)
def test_each_rule_rejects_with_its_code(changes: dict[str, Any], code: RejectCode) -> None:
    assert code_of(good(**changes)) == code


def test_not_an_object_is_rejected() -> None:
    assert code_of(["PLAY_END"]) == RejectCode.INVALID_EVENT
    assert code_of(None) == RejectCode.INVALID_EVENT


def test_boundaries_are_accepted() -> None:
    for changes in (
        {"duration_ms": 0},
        {"duration_ms": 86_400_000},
        {"device_time": "2026-03-02T10:05:00Z"},  # exactly the skew allowance
        {"device_time": "2026-01-26T10:00:00Z"},  # exactly 35 days old (the backdating limit)
        {"type": "PLAY_START", "duration_ms": None, "result": None},
        {"duration_ms": 1000.0},  # an integral JSON number
    ):
        assert isinstance(parse_event(0, good(**changes), NOW, POLICY), ValidEvent), changes


def test_the_error_carries_the_event_id_as_sent() -> None:
    event_id = str(uuid.uuid4())
    outcome = parse_event(3, good(event_id=event_id, duration_ms=-5), NOW, POLICY)
    assert isinstance(outcome, EventError)
    assert outcome.as_dict() == {
        "index": 3,
        "event_id": event_id,
        "code": "negative_duration",
        "message": "duration_ms must not be negative",
    }


def test_content_duration_rule_is_three_times_plus_a_minute() -> None:
    parsed = parse_event(0, good(duration_ms=150_000), NOW, POLICY)
    assert isinstance(parsed, ValidEvent)
    assert check_content_duration(parsed, 30_000, POLICY) is None  # 3 x 30 s + 60 s exactly
    assert check_content_duration(parsed, None, POLICY) is None  # unknown: only the 24 h cap
    parsed.row["duration_ms"] = 150_001
    error = check_content_duration(parsed, 30_000, POLICY)
    assert error is not None and error.code == RejectCode.DURATION_EXCEEDS_CONTENT


@pytest.mark.parametrize("field", ["type", "result", "event_id", "playlist_id", "device_time"])
def test_unhashable_values_are_rejected_not_crashed(field: str) -> None:
    for value in ([], {}, [1]):
        valid, errors = EventValidator(NOW, POLICY).validate([good(**{field: value})])
        assert valid == [] and len(errors) == 1, (field, value)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "PLAY_START",
            "PLAY_END",
            "COMPLETED",
            "SKIPPED",
            "2026-03-02T09:00:00Z",
            "2026-03-02T09:00:00",
            "2026-03-02T19:00:00+09:00",
            "2026-03-02T10:04:59.999999Z",
            "2026-03-02T10:05:00.000001Z",
            "2026-01-26T10:00:00Z",
            "2026-01-26T09:59:59Z",
            str(uuid.UUID(int=7)).upper(),
            "not-a-uuid",
            "",
        ]
    ),
    st.uuids().map(str),
    st.dictionaries(st.text(max_size=3), st.integers(-(2**40), 2**40), max_size=2),
    st.lists(st.integers(-(2**40), 2**40), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "event_id",
                "type",
                "device_time",
                "playlist_id",
                "content_id",
                "content_version",
                "campaign_id",
                "schedule_id",
                "duration_ms",
                "result",
                "payload",
            ]
        ),
        _VALUES,
        max_size=4,
    )
)
def test_the_fast_path_never_accepts_what_the_rules_refuse(changes: dict[str, Any]) -> None:
    raw = good()
    raw.update(changes)
    raw = {k: v for k, v in raw.items() if v is not None}
    authoritative = parse_event(0, raw, NOW, POLICY)
    validator = EventValidator(NOW, POLICY)
    shaped = shape_batch_json(orjson.dumps({"events": [raw]}))
    if shaped is not None:
        shaped_row = shaped.events[0]
        verdict = validator.validate(shaped)
        assert _verdict(verdict) == _verdict(authoritative)
        fast_accepted = bool(verdict[0]) and verdict[0][0].row is shaped_row
        if fast_accepted:  # accepted without the rule-by-rule path: it must agree
            assert isinstance(authoritative, ValidEvent)
    assert _verdict(validator.validate([raw])) == _verdict(authoritative)


def _verdict(outcome: object) -> object:
    """One event's verdict in a comparable form: (key, row) or the error."""
    if isinstance(outcome, tuple):
        valid, errors = outcome
        outcome = valid[0] if valid else errors[0]
    if isinstance(outcome, ValidEvent):
        return outcome.key, {k: v for k, v in outcome.row.items() if v is not None}
    return outcome


def test_a_normal_batch_takes_the_fast_path() -> None:
    events = [good(), good(type="PLAY_START", duration_ms=None, result=None)]
    shaped = shape_batch_json(orjson.dumps({"events": events}))
    assert shaped is not None and len(shaped) == 2
    rows = list(shaped.events)
    valid, errors = EventValidator(NOW, POLICY).validate(shaped)
    assert errors == [] and [v.key for v in valid] == [e["event_id"] for e in events]
    assert all(v.row is row for v, row in zip(valid, rows, strict=True))  # no fallback taken
    assert shape_batch_json(b'{"events": [], "extra": 1}') is None
    assert shape_batch_json(orjson.dumps({"events": [good(duration_ms=-1)]})) is None
