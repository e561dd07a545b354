"""SQL expressions that read JSON telemetry without ever aborting a statement.

A heartbeat's JSON is validated by the edge, but a sweep over the whole fleet must not fail
because one row holds something unexpected: a value of the wrong type reads as NULL, and
arithmetic on what a device reported (times, positions, byte counts) is done where it cannot
overflow: in `numeric`, on epoch seconds, or after bounding the value. Interval and timestamp
arithmetic raises "out of range" (a bigint position of 2**63-1 ms is an interval PostgreSQL
cannot hold), numeric arithmetic does not.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement


def seconds(amount: ColumnElement[Any] | float) -> ColumnElement[Any]:
    """`amount` seconds as a PostgreSQL interval."""
    return sa.literal_column("interval '1 second'") * amount


def epoch_seconds(instant: ColumnElement[Any]) -> ColumnElement[Any]:
    """Seconds since 1970 as `numeric` (PostgreSQL 14+), for arithmetic that never overflows;
    NULL stays NULL and +/-infinity stays infinite."""
    return sa.extract("epoch", instant)


# The instants `to_timestamp` can return (4713 BC to 294276 AD) in epoch seconds, with a
# margin for the rounding of its float argument.
_MIN_EPOCH_S = -210_866_803_000
_MAX_EPOCH_S = 9_224_318_015_000


def instant_at(epoch_s: ColumnElement[Any]) -> ColumnElement[Any]:
    """The timestamptz `epoch_s` seconds after 1970, or NULL when PostgreSQL cannot represent
    it (where `started_at + interval` would abort the statement)."""
    return sa.case(
        (
            epoch_s.between(_MIN_EPOCH_S, _MAX_EPOCH_S),
            sa.func.to_timestamp(sa.cast(epoch_s, sa.Float)),
        ),
        else_=sa.null(),
    )


def within(value: ColumnElement[Any], low: int, high: int) -> ColumnElement[Any]:
    """The value when `low <= value <= high`, else NULL (a policy value nobody could mean)."""
    return sa.case((value.between(low, high), value), else_=sa.null())


def clamped(value: ColumnElement[Any], low: int, high: int) -> ColumnElement[Any]:
    """The value brought into [low, high] (NULL stays NULL): for numbers copied into JSON that
    a reader must be able to decode (Python refuses integers of more than 4,300 digits)."""
    return sa.func.least(sa.func.greatest(value, low), high)


def get(document: ColumnElement[Any], key: str) -> ColumnElement[Any]:
    return document.op("->")(sa.literal(key))


def get_text(document: ColumnElement[Any], key: str) -> ColumnElement[Any]:
    return document.op("->>")(sa.literal(key))


def json_number(document: ColumnElement[Any], key: str) -> ColumnElement[Any]:
    """`document->key` as numeric when it is a JSON number, else NULL (never a cast error)."""
    return sa.case(
        (
            sa.func.jsonb_typeof(get(document, key)) == "number",
            sa.cast(get_text(document, key), sa.Numeric),
        ),
        else_=sa.null(),
    )


def json_number_at_least(document: ColumnElement[Any], key: str, bound: int) -> Any:
    """`document->key >= bound` for a JSON number, false for anything else; compares jsonb
    values directly, which is much cheaper per row than casting to numeric."""
    value = get(document, key)
    return sa.and_(
        sa.func.jsonb_typeof(value) == "number",
        value.op(">=")(sa.literal_column(f"'{int(bound)}'::jsonb")),
    )


def positive(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """The value when it is > 0, else NULL."""
    return sa.func.nullif(sa.func.greatest(value, 0), 0)


_TZ_DATETIME_PATH = """'$.t.datetime() ? (@.type() == "timestamp with time zone")'::jsonpath"""


def json_timestamptz(document: ColumnElement[Any], key: str, *, safe: bool) -> ColumnElement[Any]:
    """`document->>key` as timestamptz.

    Fast (`safe=False`): a plain cast, about 1 us per row; it aborts the statement on a value
    PostgreSQL cannot read (the edge only stores validated ISO 8601 times, so that means a
    row written some other way). Safe: the silent jsonpath `.datetime()` turns anything
    unreadable (or without an offset) into NULL, at several times the cost. The sweep runs
    the fast form and falls back to the safe one when it fails.
    """
    raw = get_text(document, key)
    if not safe:
        return sa.cast(raw, sa.DateTime(timezone=True))
    normalized = sa.func.regexp_replace(raw, "[Zz]$", "+00:00")
    parsed = sa.func.jsonb_path_query_first(
        sa.func.jsonb_build_object("t", normalized),
        sa.literal_column(_TZ_DATETIME_PATH),
        sa.literal_column("'{}'::jsonb"),
        sa.true(),
    )
    return sa.cast(parsed.op("#>>")(sa.literal_column("'{}'::text[]")), sa.DateTime(timezone=True))
