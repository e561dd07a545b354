"""The one rule for what a client may hand us: values PostgreSQL, a log line and a JSON column
can all store.

Every boundary (device edge bodies, GraphQL inputs, proof-of-play events, JSON columns such as
`device_info`, `payload`, counters, policies and rules) applies these checks, so that no
client value can make a statement fail after it was accepted. A statement that fails on one
client's value fails for everyone it was batched with, and a value stored once is read by every
later monitoring sweep: refusing it at the door is the only place where it is the sender's
problem alone.

- text: PostgreSQL `text` cannot hold NUL (U+0000), `jsonb` cannot hold `\\u0000`, and
  neither can hold a lone UTF-16 surrogate (U+D800..U+DFFF), which JSON escapes can smuggle
  into a Python str and which no UTF-8 encoder accepts;
- integers: bounded by the column they reach; an integer inside a JSON document is bounded by
  `bigint`, so SQL that casts it never overflows;
- floats: finite;
- instants: timezone-aware, and far enough inside the datetime range that converting to UTC
  or adding a day never leaves it (Python's datetime stops at years 1 and 9999); calendar
  dates likewise (`date_problem`);
- nesting: bounded depth, so that no walk over a document recurses without end.

The functions return problem codes (machine-readable, stable) instead of raising, so each
boundary can report them its own way: the edge per field or per event, GraphQL as a typed
`ValidationError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, Final

from core.errors import ValidationFailed

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# Far enough from datetime.min/max that any UTC offset (at most ±24 h) and a day of
# arithmetic stay representable; far wider than any real schedule or play.
MIN_INSTANT: Final = datetime(1, 1, 3, tzinfo=UTC)
MAX_INSTANT: Final = datetime(9999, 12, 29, tzinfo=UTC)

MAX_JSON_DEPTH: Final = 32
# A refusal names at most this many problems: thousands of bad values are one answer.
MAX_REPORTED_PROBLEMS: Final = 50

# Problem codes, shared by every boundary.
NUL_CHARACTER: Final = "nul_character"
UNPAIRED_SURROGATE: Final = "unpaired_surrogate"
INTEGER_OUT_OF_RANGE: Final = "integer_out_of_range"
NUMBER_NOT_FINITE: Final = "number_not_finite"
DATETIME_NAIVE: Final = "datetime_naive"
DATETIME_OUT_OF_RANGE: Final = "datetime_out_of_range"
DATE_OUT_OF_RANGE: Final = "date_out_of_range"
TOO_DEEPLY_NESTED: Final = "too_deeply_nested"

MESSAGES: Final[Mapping[str, str]] = {
    NUL_CHARACTER: "text must not contain the NUL character (U+0000)",
    UNPAIRED_SURROGATE: "text must not contain unpaired UTF-16 surrogates (U+D800..U+DFFF)",
    INTEGER_OUT_OF_RANGE: "integer is outside the range this field can store",
    NUMBER_NOT_FINITE: "number must be finite",
    DATETIME_NAIVE: "date-time must carry a UTC offset",
    DATETIME_OUT_OF_RANGE: "date-time is outside the supported range (years 1 to 9999)",
    DATE_OUT_OF_RANGE: (
        f"date is outside the supported range ({MIN_INSTANT.date()} to {MAX_INSTANT.date()})"
    ),
    TOO_DEEPLY_NESTED: f"JSON is nested deeper than {MAX_JSON_DEPTH} levels",
}

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In raw JSON bytes, NUL and surrogates can only arrive as \u escapes (a raw control byte is
# invalid JSON, and a raw surrogate is invalid UTF-8): one bytes search rules them out.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def text_problem(value: str) -> str | None:
    """The code of the first unstorable code point in `value`, or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return NUL_CHARACTER if found.group() == "\x00" else UNPAIRED_SURROGATE


def integer_problem(value: int, low: int = INT64_MIN, high: int = INT64_MAX) -> str | None:
    return None if low <= value <= high else INTEGER_OUT_OF_RANGE


def instant_problem(value: datetime) -> str | None:
    """Aware and well inside the representable range (see MIN_INSTANT/MAX_INSTANT)."""
    offset = value.utcoffset()
    if offset is None:
        return DATETIME_NAIVE
    if 1 < value.year < 9999:
        # No offset (always under 24 h) takes these years past MIN/MAX_INSTANT: the common
        # case (every heartbeat's `started_at`) is answered without building datetimes.
        return None
    # Compare the wall-clock value shifted by its offset without building the UTC instant,
    # which itself may be what overflows.
    naive = value.replace(tzinfo=None)
    low = MIN_INSTANT.replace(tzinfo=None) + offset
    high = MAX_INSTANT.replace(tzinfo=None) + offset
    return None if low <= naive <= high else DATETIME_OUT_OF_RANGE


def date_problem(value: date) -> str | None:
    """A calendar date between the days of MIN_INSTANT and MAX_INSTANT: a date is a local day,
    read in any timezone and widened by a day of slack, and all of that must stay
    representable (a `Date` input of 9999-12-31 would otherwise overflow)."""
    return None if MIN_INSTANT.date() <= value <= MAX_INSTANT.date() else DATE_OUT_OF_RANGE


def json_bytes_may_hold_unstorable_text(body: bytes) -> bool:
    """A cheap pre-check of a raw JSON body: False means no string in it can hold NUL or a
    surrogate, so the per-value walk can be skipped on the hot path."""
    return b"\\u" in body and _UNSTORABLE_ESCAPE.search(body) is not None


def json_problems(value: Any, path: str = "", *, depth: int = 0) -> Iterator[tuple[str, str]]:
    """Every (path, code) problem of a decoded JSON value: keys and strings, integers beyond
    bigint, non-finite floats, nesting deeper than MAX_JSON_DEPTH. Paths read like
    `payload.tags[2]`."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            yield path, problem
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        problem = integer_problem(value)
        if problem:
            yield path, problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, NUMBER_NOT_FINITE
    elif isinstance(value, Mapping | list | tuple):
        if depth >= MAX_JSON_DEPTH:
            yield path, TOO_DEEPLY_NESTED
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (problem := text_problem(key)):
                    # Never echo the bad key itself into the path.
                    yield path or "<key>", problem
                    continue
                yield from json_problems(item, child, depth=depth + 1)
        else:
            for index, item in enumerate(value):
                yield from json_problems(item, f"{path}[{index}]", depth=depth + 1)


def first_json_problem(value: Any, path: str = "") -> tuple[str, str] | None:
    return next(json_problems(value, path), None)


def problem_entries(
    problems: Iterable[tuple[str, str]], *, limit: int | None = None
) -> list[dict[str, str]]:
    """(path, code) problems as the per-field errors every boundary reports
    (`{"field", "code", "message"}`), the first `limit` of them; never the bad value."""
    return [
        {"field": path, "code": code, "message": MESSAGES[code]}
        for path, code in islice(problems, limit)
    ]


def ensure_storable_json(value: Any, path: str, message: str) -> None:
    """Raise ValidationFailed (per field) unless `value` is a storable JSON value: the
    defence of a core service that stores a client's document as it was handed over."""
    errors = problem_entries(json_problems(value, path), limit=MAX_REPORTED_PROBLEMS)
    if errors:
        raise ValidationFailed(message, errors=errors)


def ensure_storable_text(fields: Mapping[str, str | None], message: str) -> None:
    """Raise ValidationFailed (per field) if any of these client strings cannot be stored."""
    errors = problem_entries(
        (path, problem)
        for path, value in fields.items()
        if value is not None and (problem := text_problem(value))
    )
    if errors:
        raise ValidationFailed(message, errors=errors)
