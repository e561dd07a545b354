"""Scalars shared by every domain.

Annotate with the NewType (`size: BigInt`); `SCALAR_MAP` (passed to the schema's config by
`graphql_api/schema.py`) tells Strawberry how to serialise and parse it.
"""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from core.inputs import integer_problem

# Longest decimal string a signed 64-bit integer needs ("-9223372036854775808" is 20): a
# longer one is refused before int() spends time on it.
_MAX_DIGITS = 20


def _parse_bigint(value: Any) -> int:
    """Raises GraphQLError, never ValueError: graphql-core reports a GraphQLError from a
    parser as the client's validation error, and wraps anything else as an unexpected
    exception (INTERNAL_ERROR, masked in production) when the value is a literal."""
    if isinstance(value, bool):
        raise GraphQLError("BigInt cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif (
        isinstance(value, str)
        and len(value.strip()) <= _MAX_DIGITS
        and value.strip().removeprefix("-").isdecimal()
        and value.strip().isascii()
    ):
        number = int(value.strip())
    else:
        raise GraphQLError("BigInt cannot represent this value: give an integer")
    if integer_problem(number):
        raise GraphQLError("BigInt is out of the signed 64-bit range")
    return number


BigInt = NewType("BigInt", int)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        serialize=int,
        parse_value=_parse_bigint,
        description="A signed 64-bit integer (byte counts, durations): a JSON number, or a "
        "decimal string on input.",
    ),
}
