"""The model of `schedules.rules_json`: dayparts, date ranges, exclusions and frequency caps.

The console writes these rules and the engine reads them back on every plan computation, so
the model is strict (unknown fields and loose types are rejected) and canonical (weekdays
sorted, single-date exclusions kept as plain dates): equal rules serialise to equal JSON and
hence to equal plan hashes. `parse_rules` is the one validated entry point; see
`core.scheduling.validation` for how errors are turned into field paths.

Time semantics (documented in docs/scheduling.md):
- A daypart runs from `start` on each listed ISO weekday (Monday=1) to `end`, local time.
- `end < start` crosses midnight: the daypart belongs to the weekday it STARTS on.
- `end == start` means a full 24 hours from `start` ("00:00"-"00:00" is the whole day).
- `end` may be "24:00", which is the same as "00:00" of the next day.
- No dayparts at all means all day, every day.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.validation import MINUTES_PER_DAY, minutes_of_day

MAX_DAYPARTS = 50
MAX_DATE_RANGES = 100
MAX_EXCLUSIONS = 400
MAX_CAPS = 20
MAX_CAP_PERIOD_S = 31 * 24 * 3600

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_time(value: object, *, allow_24: bool) -> str:
    if isinstance(value, str) and minutes_of_day(value, allow_24=allow_24) is not None:
        return value
    upper = "24:00" if allow_24 else "23:59"
    raise PydanticCustomError("invalid_time", f"Expected a time HH:MM between 00:00 and {upper}.")


def _start_time(value: object) -> str:
    return _check_time(value, allow_24=False)


def _end_time(value: object) -> str:
    return _check_time(value, allow_24=True)


def _iso_date(value: object) -> date:
    """Only real dates or "YYYY-MM-DD": pydantic's lax mode would take Unix timestamps."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("invalid_date", "Expected a date YYYY-MM-DD.")


def _uuid(value: object) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise PydanticCustomError("invalid_uuid", "Expected a UUID.")


StartTime = Annotated[str, BeforeValidator(_start_time)]
EndTime = Annotated[str, BeforeValidator(_end_time)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Uuid = Annotated[UUID, BeforeValidator(_uuid)]


def _semantic(errors: list[tuple[str, str, str]]) -> PydanticCustomError:
    """Cross-field errors keep their own relative field path in ctx (pydantic would only
    give the enclosing model's location); `validation.py` joins the two."""
    first = errors[0][2]
    payload = [{"field": f, "code": c, "message": m} for f, c, m in errors]
    return PydanticCustomError("semantic", first, {"errors": payload})


class _Frozen(BaseModel):
    """Unknown fields are errors; strictness of each type is chosen per field."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def time_to_minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class Daypart(_Frozen):
    # No min_length here: pydantic would count only the items that validated and report a
    # spurious "too short" next to each bad weekday.
    weekdays: tuple[Annotated[StrictInt, Field(ge=1, le=7)], ...]
    start: StartTime
    end: EndTime

    @field_validator("weekdays", mode="after")
    @classmethod
    def _canonical_weekdays(cls, weekdays: tuple[int, ...]) -> tuple[int, ...]:
        if not weekdays:
            raise _semantic([("", "too_short", "At least one weekday is required.")])
        seen: set[int] = set()
        for index, day in enumerate(weekdays):
            if day in seen:
                raise _semantic([(f"[{index}]", "duplicate", f"Weekday {day} is listed twice.")])
            seen.add(day)
        # Canonical order: [5, 1] and [1, 5] must hash the same.
        return tuple(sorted(weekdays))

    @property
    def start_minute(self) -> int:
        return time_to_minutes(self.start)

    @property
    def length_minutes(self) -> int:
        """Wall-clock length: end <= start wraps past midnight; equal means 24 hours."""
        length = (time_to_minutes(self.end) - self.start_minute) % MINUTES_PER_DAY
        return length or MINUTES_PER_DAY


class DateRange(_Frozen):
    """Inclusive on both ends, in the schedule's timezone."""

    start: IsoDate
    end: IsoDate

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise _semantic([("end", "range_order", "The end date is before the start date.")])
        return self

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def _exclusion(value: object) -> object:
    """A single date is shorthand for a one-day range."""
    if isinstance(value, str | date):
        day = _iso_date(value)
        return {"start": day, "end": day}
    return value


Exclusion = Annotated[DateRange, BeforeValidator(_exclusion)]


class FrequencyCap(_Frozen):
    """At most `max_plays` per sliding `per_seconds`, enforced by the player.

    ITEM counts plays of each content item (only `content_id` if given); CAMPAIGN counts
    every play of the schedule's campaign (or of the schedule, when it has no campaign).
    """

    scope: Literal["ITEM", "CAMPAIGN"]
    max_plays: StrictInt = Field(gt=0, le=1_000_000)
    per_seconds: StrictInt = Field(gt=0, le=MAX_CAP_PERIOD_S)
    content_id: Uuid | None = None

    @model_validator(mode="after")
    def _scope_fields(self) -> FrequencyCap:
        if self.scope == "CAMPAIGN" and self.content_id is not None:
            raise _semantic(
                [("content_id", "not_allowed", "A CAMPAIGN cap cannot name a content item.")]
            )
        return self


class ScheduleRules(_Frozen):
    dayparts: tuple[Daypart, ...] = Field(default=(), max_length=MAX_DAYPARTS)
    date_ranges: tuple[DateRange, ...] = Field(default=(), max_length=MAX_DATE_RANGES)
    exclusions: tuple[Exclusion, ...] = Field(default=(), max_length=MAX_EXCLUSIONS)
    frequency_caps: tuple[FrequencyCap, ...] = Field(default=(), max_length=MAX_CAPS)

    @model_validator(mode="after")
    def _no_duplicates(self) -> ScheduleRules:
        errors: list[tuple[str, str, str]] = []
        errors += _duplicates("dayparts", self.dayparts, lambda d: d, "daypart")
        errors += _duplicates(
            "frequency_caps",
            self.frequency_caps,
            lambda c: (c.scope, c.content_id, c.per_seconds),
            "cap for this scope, content and period",
        )
        if errors:
            raise _semantic(errors)
        return self

    @field_serializer("exclusions")
    def _compact_exclusions(self, value: tuple[DateRange, ...]) -> list[Any]:
        return [
            r.start.isoformat() if r.start == r.end else r.model_dump(mode="json") for r in value
        ]

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form, as stored in `schedules.rules_json`."""
        return self.model_dump(mode="json")


def _duplicates(
    name: str, values: tuple[Any, ...], key: Any, what: str
) -> list[tuple[str, str, str]]:
    seen: set[object] = set()
    found: list[tuple[str, str, str]] = []
    for index, value in enumerate(values):
        k = key(value)
        if k in seen:
            found.append((f"{name}[{index}]", "duplicate", f"This {what} is listed twice."))
        seen.add(k)
    return found
