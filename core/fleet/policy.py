"""Device-group policy (`device_groups.policy_json`): heartbeat interval, offline threshold
and storage cap, with the defaults every consumer (edge, monitoring, console) must agree on.

The stored JSON always holds the effective values, so SQL can read them directly:
`{"heartbeat_interval_s": 60, "offline_threshold_s": 180, "storage_cap_bytes": null}`.
The offline threshold defaults to three heartbeat intervals; it follows later interval changes
for as long as it still equals that default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.validation import FieldErrors

DEFAULT_HEARTBEAT_INTERVAL_S = 60
OFFLINE_THRESHOLD_FACTOR = 3
MIN_HEARTBEAT_INTERVAL_S = 10
MAX_HEARTBEAT_INTERVAL_S = 3600
MAX_OFFLINE_THRESHOLD_S = 7 * 86400
MIN_STORAGE_CAP_BYTES = 1024 * 1024
MAX_STORAGE_CAP_BYTES = 1 << 50  # 1 PiB, far beyond any player


@dataclass(frozen=True)
class GroupPolicy:
    heartbeat_interval_s: int = DEFAULT_HEARTBEAT_INTERVAL_S
    offline_threshold_s: int = DEFAULT_HEARTBEAT_INTERVAL_S * OFFLINE_THRESHOLD_FACTOR
    storage_cap_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "offline_threshold_s": self.offline_threshold_s,
            "storage_cap_bytes": self.storage_cap_bytes,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> GroupPolicy:
        """The effective policy of stored JSON (or of no group at all), defaults filled in."""
        raw = raw or {}
        interval = _int_or(raw.get("heartbeat_interval_s"), DEFAULT_HEARTBEAT_INTERVAL_S)
        threshold = _int_or(raw.get("offline_threshold_s"), interval * OFFLINE_THRESHOLD_FACTOR)
        cap = raw.get("storage_cap_bytes")
        return cls(interval, threshold, cap if isinstance(cap, int) and cap > 0 else None)


def _int_or(value: Any, default: int) -> int:
    valid = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if valid else default


_UNSET: Any = object()


def validate_policy(
    errors: FieldErrors,
    *,
    current: GroupPolicy | None = None,
    heartbeat_interval_seconds: Any = _UNSET,
    offline_threshold_seconds: Any = _UNSET,
    storage_cap_bytes: Any = _UNSET,
) -> GroupPolicy:
    """Merge the given fields into `current` (or the defaults) and check the result.

    Arguments left out keep their current value; `None` for the interval or threshold means
    "the default" and for the cap "no cap". Error fields use the API's input names.
    """
    base = current or GroupPolicy()
    interval = base.heartbeat_interval_s
    if heartbeat_interval_seconds is None:
        interval = DEFAULT_HEARTBEAT_INTERVAL_S
    elif heartbeat_interval_seconds is not _UNSET:
        interval = heartbeat_interval_seconds
        if not MIN_HEARTBEAT_INTERVAL_S <= interval <= MAX_HEARTBEAT_INTERVAL_S:
            errors.add(
                "heartbeat_interval_seconds",
                "out_of_range",
                f"between {MIN_HEARTBEAT_INTERVAL_S} and {MAX_HEARTBEAT_INTERVAL_S} seconds",
            )
    follows_default = (
        base.offline_threshold_s == base.heartbeat_interval_s * OFFLINE_THRESHOLD_FACTOR
    )
    if offline_threshold_seconds is _UNSET:
        threshold = (
            interval * OFFLINE_THRESHOLD_FACTOR if follows_default else base.offline_threshold_s
        )
    elif offline_threshold_seconds is None:
        threshold = interval * OFFLINE_THRESHOLD_FACTOR
    else:
        threshold = offline_threshold_seconds
    if threshold <= interval:
        errors.add(
            "offline_threshold_seconds",
            "out_of_range",
            "must be longer than the heartbeat interval",
        )
    elif threshold > MAX_OFFLINE_THRESHOLD_S:
        errors.add(
            "offline_threshold_seconds", "out_of_range", f"at most {MAX_OFFLINE_THRESHOLD_S} s"
        )
    cap = base.storage_cap_bytes if storage_cap_bytes is _UNSET else storage_cap_bytes
    if cap is not None and not MIN_STORAGE_CAP_BYTES <= cap <= MAX_STORAGE_CAP_BYTES:
        errors.add(
            "storage_cap_bytes",
            "out_of_range",
            f"between {MIN_STORAGE_CAP_BYTES} and {MAX_STORAGE_CAP_BYTES} bytes",
        )
    return GroupPolicy(interval, threshold, cap)
