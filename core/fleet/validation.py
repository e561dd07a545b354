"""Collecting field-level validation errors, so one response lists every invalid field.

Field paths use the Python names (`opening_hours.mon[0].close`); the GraphQL layer renders
them camel-cased. Codes are lower-case names of `graphql_api.errors.ErrorCode` members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationFailed


@dataclass
class FieldErrors:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, field_path: str, code: str, message: str) -> None:
        self.items.append({"field": field_path, "code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, message: str = "the input is not valid") -> None:
        if self.items:
            raise ValidationFailed(message, field=self.items[0]["field"], errors=self.items)


def clean_text(
    errors: FieldErrors,
    field_path: str,
    value: str | None,
    *,
    required: bool,
    max_length: int = 200,
    multiline: bool = False,
) -> str | None:
    """Strip surrounding space; an empty optional value becomes None."""
    if value is None:
        if required:
            errors.add(field_path, "required", "this field is required")
        return None
    text = value.strip()
    if not text:
        if required:
            errors.add(field_path, "required", "this field must not be empty")
        return None
    if len(text) > max_length:
        errors.add(field_path, "too_long", f"at most {max_length} characters")
    allowed = "\t\n\r" if multiline else "\t"
    if any(ord(ch) < 32 and ch not in allowed for ch in text):
        errors.add(field_path, "invalid", "control characters are not allowed")
    return text


def single_error(field_path: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, field=field_path, errors=[{"field": field_path, "code": code, "message": message}]
    )


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with LIKE wildcards escaped (escape `\\`)."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
