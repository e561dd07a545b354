"""Field-level input rules shared by every domain: the error collector, text rules, times of
day and LIKE escaping. A kernel module: it imports nothing from the domain packages, so any
of them can use it without an import cycle.

Why a collector: a console form wants every problem at once, each tied to the input field
that caused it, rather than one error per round trip.

Field paths: core names fields the Python way (`opening_hours.mon[0].close`,
`device_ids[3]`); the GraphQL edge renders them camel-cased (`graphql_api.errors.camel_path`,
which leaves an already camel-cased path unchanged), so clients always see the API's input
names. Codes are `core.errors.ErrorCode` values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationFailed

NAME_MAX_CHARS = 200
MINUTES_PER_DAY = 24 * 60
_TIME_OF_DAY = re.compile(r"(?:([01]\d|2[0-3]):([0-5]\d)|24:00)")


def minutes_of_day(value: object, *, allow_24: bool) -> int | None:
    """Minutes since midnight of a "HH:MM" time of day, 00:00 to 23:59, and "24:00" (as
    1440, the end of a day) when `allow_24`; None when the value is anything else. The one
    rule for opening hours and schedule dayparts."""
    match = _TIME_OF_DAY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    if match.group(1) is None:
        return MINUTES_PER_DAY if allow_24 else None
    return int(match.group(1)) * 60 + int(match.group(2))


@dataclass
class FieldErrors:
    """Accumulates `{field, code, message}` entries and raises them together."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, field_path: str, code: str, message: str) -> None:
        self.items.append({"field": field_path, "code": code, "message": message})

    def extend(self, entries: Iterable[dict[str, Any]], *, prefix: str = "") -> None:
        """Adopt errors from another validator, rooting their field paths under `prefix`."""
        for entry in entries:
            inner = str(entry.get("field") or "")
            if prefix and inner:
                joiner = "" if inner.startswith("[") else "."
                path = f"{prefix}{joiner}{inner}"
            else:
                path = prefix or inner
            self.add(path, str(entry.get("code") or "invalid"), str(entry.get("message") or ""))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, message: str | None = None) -> None:
        """Raise ValidationFailed listing every entry. Its message is `message`, else the only
        entry's message, else a generic one."""
        if not self.items:
            return
        if message is None:
            message = self.items[0]["message"] if len(self.items) == 1 else None
        raise ValidationFailed(
            message or "the input is not valid",
            field=self.items[0]["field"],
            errors=list(self.items),
        )


def single_error(field_path: str, code: str, message: str) -> ValidationFailed:
    """A ValidationFailed with one field entry, for checks that stop at the first problem."""
    return ValidationFailed(
        message, field=field_path, errors=[{"field": field_path, "code": code, "message": message}]
    )


def has_control_chars(text: str, *, allowed: str = "") -> bool:
    """Control (Cc) or invisible format (Cf) characters other than `allowed`: they garble
    lists and reports, and format characters can disguise one name as another."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text)


def clean_text(
    errors: FieldErrors,
    field_path: str,
    value: str | None,
    *,
    required: bool,
    max_length: int = NAME_MAX_CHARS,
    multiline: bool = False,
) -> str | None:
    """The one rule for free text (names, addresses, notes): surrounding space stripped,
    non-empty when required (an empty optional value becomes None), at most `max_length`
    characters, and printable (line breaks and tabs only when `multiline`). One error per
    field: the first rule it breaks."""
    text = (value or "").strip()
    if not text:
        if required:
            errors.add(field_path, "required", f"{field_path} must not be empty")
        return None
    if len(text) > max_length:
        errors.add(field_path, "too_long", f"{field_path} is longer than {max_length} chars")
    elif has_control_chars(text, allowed="\t\n\r" if multiline else ""):
        errors.add(field_path, "invalid", f"{field_path} contains control characters")
    return text


def clean_name(errors: FieldErrors, value: str, *, field_name: str = "name") -> str:
    """A required single-line name (shown in lists and reports)."""
    return clean_text(errors, field_name, value, required=True) or ""


def escape_like(text: str) -> str:
    """Escape LIKE wildcards (with `\\` as the escape character) so a search for `50%` means
    the literal text."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching the trimmed `text` anywhere (use it with `escape="\\\\"`)."""
    return f"%{escape_like(text.strip())}%"
