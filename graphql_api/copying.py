"""Building a GraphQL object from the core model or row it mirrors.

Most console types repeat a core model field for field. A hand-written constructor per type
restates every name, and a field added to both sides can still be missed in the middle. Here
each field of the Strawberry type is read from the attribute of the same name on the source,
and only the fields that differ (renamed, converted, nested) are written out.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def copy_fields(cls: type[T], source: object, **overrides: Any) -> T:
    """`cls(...)` with every data field taken from `source.<field>`, except `overrides`.
    Fields computed by resolvers are not data fields and are left alone."""
    assert dataclasses.is_dataclass(cls), cls
    values = {
        field.name: getattr(source, field.name)
        for field in dataclasses.fields(cls)
        if field.init and field.name not in overrides
    }
    return cls(**values, **overrides)
