"""IANA timezone names: the one check every domain uses (stores, schedules, plan previews,
the monitoring sweep), with one error code, `invalid_timezone`. A kernel module: it imports
nothing from the domain packages."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from core.validation import FieldErrors, single_error

REQUIRED_MESSAGE = "an IANA timezone such as Europe/Berlin is required"


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=1024)
def _load(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def is_valid_timezone(name: str) -> bool:
    """True for IANA names like "Europe/Berlin" or "UTC". Checking membership before loading
    refuses file paths and other strings the loader would try; loading refuses a listed
    zone whose data is missing."""
    return name in _known() and _load(name) is not None


def _invalid_message(name: str) -> str:
    return f"{name[:64]!r} is not an IANA timezone"


def check_timezone(
    value: object, errors: FieldErrors, field: str = "timezone", *, required: bool = True
) -> str | None:
    """Collector form: the stripped name, or None with an error added to `errors`."""
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        if required:
            errors.add(field, "required", REQUIRED_MESSAGE)
        return None
    if not is_valid_timezone(name):
        errors.add(field, "invalid_timezone", _invalid_message(name))
        return None
    return name


def validate_timezone(value: object, *, field: str = "timezone") -> str:
    """Raising form: the stripped name, or ValidationFailed (`required`/`invalid_timezone`)."""
    errors = FieldErrors()
    name = check_timezone(value, errors, field)
    errors.raise_if_any()
    assert name is not None  # no errors means a valid name
    return name


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """The zone of a validated name; ValidationFailed (`invalid_timezone`) for any other."""
    loaded = _load(name) if name in _known() else None
    if loaded is None:
        raise single_error(field, "invalid_timezone", _invalid_message(name))
    return loaded
