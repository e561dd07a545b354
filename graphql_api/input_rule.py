"""`core.inputs` applied to every argument of every console operation, in one place.

Why a field extension attached to every root field, and not a check per resolver: the schema
has dozens of fields taking strings, dates and numbers (names, filters, search strings,
cursors, notes, claim codes, report and preview ranges). A value PostgreSQL cannot store (NUL,
a lone surrogate) or a date whose UTC conversion or next day leaves Python's datetime range
made a statement or some date arithmetic fail, which the client saw as INTERNAL_ERROR. One
walk over the converted arguments, before the resolver runs, covers every field, including
the ones added later, and no resolver has to remember it.

What is checked (the rules themselves live in `core.inputs`):
- every string, at any depth of input objects and lists: `text_problem`;
- every integer: the signed 64-bit range (GraphQL `Int` is already 32-bit, like our integer
  columns; `BigInt` is bounded by its own parser too);
- every `DateTime`: `instant_problem` (aware, and far enough from years 1 and 9999);
- every `Date`: `date_problem`;
- `JSON` values: `json_problems`.

How a problem is answered: the extension raises `ValidationFailed` with one entry per bad
value, `field` being its camelCase path, relative to the `input` argument for mutations
(`openingHours.mon[0].open`) and starting with the argument name otherwise
(`filter.search`, `after`). The schema's exception handlers turn it into the field's typed
`ValidationError` when the result union has one, else into a top-level error whose
`extensions.code` is the problem's code (see graphql_api/errors.py).

The extension is the innermost one, so permission checks still come first: an anonymous
client learns nothing about the input rules of a field it may not call. Subscriptions are
left out: Strawberry runs no field extensions there, and their arguments are ids and enums.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from enum import Enum
from itertools import islice
from typing import Any
from uuid import UUID

from strawberry import UNSET
from strawberry.extensions import FieldExtension
from strawberry.schema.name_converter import NameConverter
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

from core.errors import ValidationFailed
from core.inputs import (
    MESSAGES,
    NUMBER_NOT_FINITE,
    date_problem,
    instant_problem,
    integer_problem,
    json_problems,
    text_problem,
)

# A client sending thousands of bad values gets the first ones, not a response as large.
MAX_REPORTED = 20

# The argument whose fields are the mutation's own (FieldError paths are relative to it).
INPUT_ARGUMENT = "input"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def value_problems(value: Any, path: str, names: NameConverter) -> Iterator[tuple[str, str]]:
    """Every (path, problem code) of one converted argument value."""
    if value is None or value is UNSET or isinstance(value, bool | Enum | UUID):
        return
    if isinstance(value, str):
        if problem := text_problem(value):
            yield path, problem
    elif isinstance(value, int):
        if problem := integer_problem(value):
            yield path, problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, NUMBER_NOT_FINITE
    elif isinstance(value, datetime):  # before `date`: a datetime is a date
        if problem := instant_problem(value):
            yield path, problem
    elif isinstance(value, date):
        if problem := date_problem(value):
            yield path, problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from value_problems(item, f"{path}[{index}]", names)
    elif isinstance(value, Mapping):  # the JSON scalar
        yield from json_problems(value, path)
    elif (definition := get_object_definition(value)) is not None and definition.is_input:
        for field in definition.fields:
            item = getattr(value, field.python_name, None)
            yield from value_problems(item, _join(path, names.from_field(field)), names)


def argument_problems(
    field: StrawberryField, kwargs: Mapping[str, Any], names: NameConverter
) -> Iterator[tuple[str, str]]:
    for argument in field.arguments:
        if argument.python_name not in kwargs:
            continue
        name = names.from_argument(argument)
        root = "" if name == INPUT_ARGUMENT else name
        yield from value_problems(kwargs[argument.python_name], root, names)


def refusal(problems: Iterable[tuple[str, str]]) -> ValidationFailed | None:
    """The ValidationFailed for these problems, or None when there are none."""
    errors = [
        {"field": path, "code": code, "message": MESSAGES[code]}
        for path, code in islice(problems, MAX_REPORTED)
    ]
    if not errors:
        return None
    first = errors[0]
    message = f"{first['message']} (`{first['field']}`)" if first["field"] else first["message"]
    return ValidationFailed(message, field=first["field"] or None, errors=errors)


class StorableInput(FieldExtension):
    """Refuses a field's arguments that `core.inputs` rejects, before its resolver runs."""

    def __init__(self, field: StrawberryField, names: NameConverter) -> None:
        self.field = field
        self.names = names

    def _check(self, kwargs: Mapping[str, Any]) -> None:
        problem = refusal(argument_problems(self.field, kwargs, self.names))
        if problem is not None:
            raise problem

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        self._check(kwargs)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        self._check(kwargs)
        return await next_(source, info, **kwargs)


def apply_input_rule(root_types: Iterable[type | None], names: NameConverter) -> None:
    """Give every field with arguments of these root types (Query, Mutation) a StorableInput,
    innermost, once (the same field objects are shared by every schema built)."""
    for root in root_types:
        definition = get_object_definition(root) if root is not None else None
        if definition is None:
            continue
        for field in definition.fields:
            if not field.arguments:
                continue
            if any(isinstance(extension, StorableInput) for extension in field.extensions):
                continue
            field.extensions.insert(0, StorableInput(field, names))
