"""Field-level input checks shared by the programming domains (content, campaigns, playlists,
schedules).

Why a collector: a console form wants every problem at once, each tied to the input field
that caused it, rather than one error per round trip. Field names are the API's input names
(camelCase), so an edge can hand them to the client unchanged.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationFailed

NAME_MAX_CHARS = 200
TAG_MAX_CHARS = 50
MAX_TAGS = 50


@dataclass
class FieldErrors:
    """Accumulates `{field, code, message}` entries and raises them together."""

    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, field_name: str, code: str, message: str) -> None:
        self.errors.append({"field": field_name, "code": code, "message": message})

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

    def raise_if_any(self) -> None:
        if self.errors:
            first = self.errors[0]
            message = first["message"] if len(self.errors) == 1 else "the input is not valid"
            raise ValidationFailed(message, field=first["field"], errors=list(self.errors))


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def clean_name(errors: FieldErrors, value: str, *, field_name: str = "name") -> str:
    """Trimmed, non-empty, bounded, printable: names show up in lists and reports."""
    name = value.strip()
    if not name:
        errors.add(field_name, "required", f"{field_name} must not be empty")
    elif len(name) > NAME_MAX_CHARS:
        errors.add(field_name, "too_long", f"{field_name} is longer than {NAME_MAX_CHARS} chars")
    elif _has_control_chars(name):
        errors.add(field_name, "invalid", f"{field_name} contains control characters")
    return name


def clean_tags(
    errors: FieldErrors, values: Sequence[str], *, field_name: str = "tags"
) -> list[str]:
    """Lower-cased and de-duplicated (first occurrence wins), so tag filters need no folding."""
    if len(values) > MAX_TAGS:
        errors.add(field_name, "too_many", f"at most {MAX_TAGS} tags are allowed")
        return []
    tags: list[str] = []
    for index, raw in enumerate(values):
        tag = raw.strip().lower()
        path = f"{field_name}[{index}]"
        if not tag:
            errors.add(path, "required", "a tag must not be empty")
        elif len(tag) > TAG_MAX_CHARS:
            errors.add(path, "too_long", f"a tag is longer than {TAG_MAX_CHARS} chars")
        elif _has_control_chars(tag):
            errors.add(path, "invalid", "a tag contains control characters")
        elif tag not in tags:
            tags.append(tag)
    return tags


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so a search for `50%` means the literal text."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
