"""Tag rules of the programming domains (content, campaigns). The shared field rules (error
collector, names, LIKE escaping) live in `core.validation`."""

from __future__ import annotations

from collections.abc import Sequence

from core.validation import FieldErrors, has_control_chars

TAG_MAX_CHARS = 50
MAX_TAGS = 50


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
        elif has_control_chars(tag):
            errors.add(path, "invalid", "a tag contains control characters")
        elif tag not in tags:
            tags.append(tag)
    return tags
