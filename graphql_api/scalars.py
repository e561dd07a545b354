"""Scalars shared by every domain.

Annotate with the NewType (`size: BigInt`); `SCALAR_MAP` (passed to the schema's config by
`graphql_api/schema.py`) tells Strawberry how to serialise and parse it.
"""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _parse_bigint(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("BigInt cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"BigInt cannot represent {value!r}")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError("BigInt is out of the signed 64-bit range")
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
