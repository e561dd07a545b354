"""Validated entry point for schedule rules JSON (timezone names: `core.timezones`).

The console shows errors next to the offending input, so every error carries a field path
such as `rules.dayparts[0].start` that the GraphQL layer returns as-is, and a stable
machine-readable code (pydantic's internal type names are mapped to a small vocabulary).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from core.errors import ValidationFailed
from core.scheduling.rules import ScheduleRules

_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "too_short": "too_short",
    "too_long": "too_many",
    "literal_error": "invalid_choice",
    "int_type": "invalid_type",
    "int_parsing": "invalid_type",
    "int_from_float": "invalid_type",
    "string_type": "invalid_type",
    "tuple_type": "invalid_type",
    "list_type": "invalid_type",
    "model_type": "invalid_type",
    "model_attributes_type": "invalid_type",
    "dict_type": "invalid_type",
}


def field_path(prefix: str, loc: Sequence[int | str], suffix: str = "") -> str:
    """("dayparts", 0, "start") -> "rules.dayparts[0].start"."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if suffix:
        path += suffix if suffix.startswith("[") else f".{suffix}"
    return path


def _errors_from(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if err["type"] == "semantic":
            for sub in err.get("ctx", {}).get("errors", []):
                errors.append(
                    {
                        "field": field_path(prefix, loc, sub["field"]),
                        "code": sub["code"],
                        "message": sub["message"],
                    }
                )
            continue
        code = _CODES.get(err["type"], err["type"])
        errors.append({"field": field_path(prefix, loc), "code": code, "message": err["msg"]})
    return errors


def parse_rules(raw: object, *, field: str = "rules") -> ScheduleRules:
    """Validate console/DB input into ScheduleRules, or raise ValidationFailed listing every
    problem found (structural problems first: cross-field checks need well-typed input)."""
    if isinstance(raw, ScheduleRules):
        return raw
    try:
        return ScheduleRules.model_validate(raw)
    except ValidationError as exc:
        errors = _errors_from(exc, field)
        first = errors[0] if errors else {"field": field, "message": "Invalid rules."}
        raise ValidationFailed(first["message"], field=first["field"], errors=errors) from None
