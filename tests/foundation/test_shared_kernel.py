"""The single implementations of rules that used to exist in several copies (issue 14):
these pin the rule each copy now shares, where the copies used to differ."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.types import Message

from core.errors import NotFound, ValidationFailed
from core.fleet.opening_hours import (
    MAX_INTERVALS_PER_DAY,
    parse_operating_hours,
    validate_opening_hours,
)
from core.security.tokens import InvalidToken
from core.timezones import check_timezone, validate_timezone, zone
from core.validation import FieldErrors, clean_text, contains_pattern
from http_common.bearer import bearer_token
from http_common.body_limit import BodyTooLarge, limited_receive
from http_common.error_envelope import domain_error_response


def test_one_entry_raises_its_own_message_unless_the_caller_names_one() -> None:
    errors = FieldErrors()
    errors.add("name", "required", "name must not be empty")
    with pytest.raises(ValidationFailed) as caught:
        errors.raise_if_any()
    assert caught.value.message == "name must not be empty"
    with pytest.raises(ValidationFailed) as caught:
        errors.raise_if_any("the store is not valid")
    assert caught.value.message == "the store is not valid"


@pytest.mark.parametrize(
    ("value", "multiline", "code"),
    [
        ("Berlin\u200bMitte", False, "invalid"),  # an invisible format character
        ("Berlin\x7f", False, "invalid"),  # DEL
        ("Berlin\tMitte", False, "invalid"),
        ("Main St 1\nBerlin", True, None),
        ("", False, None),
        ("x" * 201, False, "too_long"),
    ],
)
def test_one_text_rule(value: str, multiline: bool, code: str | None) -> None:
    errors = FieldErrors()
    clean_text(errors, "name", value, required=False, multiline=multiline)
    assert [e["code"] for e in errors.items] == ([code] if code else [])


def test_like_patterns_escape_wildcards() -> None:
    assert contains_pattern(" 50%_off\\ ") == "%50\\%\\_off\\\\%"


def test_timezones_share_one_code_and_strip_space() -> None:
    assert validate_timezone(" Europe/Berlin ") == "Europe/Berlin"
    errors = FieldErrors()
    assert check_timezone("Mars/Olympus", errors) is None
    assert errors.items[0]["code"] == "invalid_timezone"
    with pytest.raises(ValidationFailed) as caught:
        zone("../../etc/passwd")
    assert caught.value.errors[0]["code"] == "invalid_timezone"


def test_reads_and_writes_share_the_interval_limit_and_day_names() -> None:
    too_many = {"mon": [{"open": f"{h:02d}:00", "close": f"{h:02d}:30"} for h in range(7)]}
    assert len(too_many["mon"]) == MAX_INTERVALS_PER_DAY + 1
    with pytest.raises(ValidationFailed) as caught:
        parse_operating_hours(too_many, field="opening_hours")
    read = {(e["field"], e["code"]) for e in caught.value.errors}
    errors = FieldErrors()
    validate_opening_hours(too_many, errors)
    assert read == {(e["field"], e["code"]) for e in errors.items}
    assert read == {("opening_hours.mon", "too_many")}


def test_overlaps_are_refused_on_write_and_merged_on_read() -> None:
    hours = {"mon": [{"open": "09:00", "close": "12:00"}, {"open": "11:00", "close": "14:00"}]}
    errors = FieldErrors()
    validate_opening_hours(hours, errors)
    assert [e["code"] for e in errors.items] == ["overlap"]
    assert not parse_operating_hours(hours).never_open


@pytest.mark.parametrize(
    ("header", "token"),
    [(None, None), ("", None), ("Bearer abc", "abc"), ("bearer  abc ", "abc"), (" Bearer a", "a")],
)
def test_bearer_values(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "abc"])
def test_malformed_bearer_values(header: str) -> None:
    with pytest.raises(InvalidToken):
        bearer_token(header)


def test_the_rest_error_envelope_carries_the_field() -> None:
    response = domain_error_response(NotFound("no such store", field="store_id"))
    assert response.status_code == 404
    assert orjson.loads(bytes(response.body)) == {
        "error": {"code": "not_found", "message": "no such store", "details": {"field": "store_id"}}
    }


async def test_body_limit_counts_streamed_chunks() -> None:
    chunks: list[Message] = [
        {"type": "http.request", "body": b"x" * 6, "more_body": True},
        {"type": "http.request", "body": b"x" * 6, "more_body": False},
    ]

    async def receive() -> Message:
        return chunks.pop(0)

    scope: dict[str, Any] = {"type": "http", "headers": []}
    limited = limited_receive(scope, receive, 10)
    await limited()
    with pytest.raises(BodyTooLarge):
        await limited()
    with pytest.raises(BodyTooLarge):
        limited_receive({"type": "http", "headers": [(b"content-length", b"11")]}, receive, 10)
