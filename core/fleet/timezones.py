"""IANA timezone names, checked against the tz database shipped with `tzdata`."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from core.fleet.validation import FieldErrors


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_timezone(name: str) -> bool:
    """True for IANA names like "Europe/Berlin" or "UTC". Checking membership instead of
    calling ZoneInfo(name) refuses file paths and other strings the loader would try."""
    return name in _known()


def validate_timezone(
    value: str | None, errors: FieldErrors, field: str = "timezone", *, required: bool = True
) -> str | None:
    if value is None or not value.strip():
        if required:
            errors.add(field, "required", "an IANA timezone such as Europe/Berlin is required")
        return None
    name = value.strip()
    if not is_valid_timezone(name):
        errors.add(field, "invalid_timezone", f"{name!r} is not an IANA timezone")
    return name
