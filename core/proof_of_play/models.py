"""Plain data of proof-of-play: the rules' knobs, the device context, and ingest outcomes.

Definitions used everywhere (aggregates, reports, docs/proof_of_play.md):
- a *play* is a PLAY_END event; `plays_count` counts them;
- `completed_count` counts PLAY_END events whose result is COMPLETED;
- `starts_count` counts PLAY_START events;
- `total_duration_ms` sums `duration_ms` over PLAY_END events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from core.config import Settings
from core.db.metadata import NO_CAMPAIGN as NO_CAMPAIGN

# Aggregate keys cannot be NULL: the nil uuid stands for "no campaign" and "no store" (a
# device not yet assigned to a store still plays, and its plays must still be counted).
NO_STORE = uuid.UUID(int=0)

DAY_MS = 86_400_000
MAX_BATCH_EVENTS = 1000
DEFAULT_CLOCK_SKEW_S = 300
DEFAULT_MAX_BACKDATE_DAYS = 35
# A payload is the player's own annotation of one play (a few keys), never a dump: at most
# this many bytes as compact UTF-8 JSON. 1,000 of them still fit a 1 MiB batch four times.
MAX_PAYLOAD_BYTES = 4096


class RejectCode(StrEnum):
    """Why one event of a batch was refused (the `code` of an entry in `errors`)."""

    INVALID_EVENT = "invalid_event"
    INVALID_EVENT_ID = "invalid_event_id"
    INVALID_TYPE = "invalid_type"
    INVALID_RESULT = "invalid_result"
    INVALID_ID = "invalid_id"
    INVALID_CONTENT_VERSION = "invalid_content_version"
    INVALID_DEVICE_TIME = "invalid_device_time"
    DEVICE_TIME_IN_FUTURE = "device_time_in_future"
    DEVICE_TIME_TOO_OLD = "device_time_too_old"
    INVALID_DURATION = "invalid_duration"
    NEGATIVE_DURATION = "negative_duration"
    DURATION_TOO_LONG = "duration_too_long"
    DURATION_EXCEEDS_CONTENT = "duration_exceeds_content"
    MISSING_DURATION = "missing_duration"
    MISSING_RESULT = "missing_result"
    INVALID_PAYLOAD = "invalid_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    # What the device could not have played (core.proof_of_play.grants): an id that does not
    # exist, ids that do not belong together, or a combination never in the device's plans.
    UNKNOWN_PLAYLIST = "unknown_playlist"
    UNKNOWN_CONTENT = "unknown_content"
    UNKNOWN_CAMPAIGN = "unknown_campaign"
    UNKNOWN_SCHEDULE = "unknown_schedule"
    MISMATCHED_REFERENCES = "mismatched_references"
    NOT_SCHEDULED = "not_scheduled"
    # The event_id is already stored for another device (idempotency is by event_id alone).
    EVENT_ID_CONFLICT = "event_id_conflict"


@dataclass(frozen=True)
class IngestPolicy:
    """The knobs of event validation; `from_settings` is the production source.

    Backdating: a `device_time` older than `backdate_days` is refused (players may stay offline
    for weeks, so the default covers a month); `clock_skew` bounds how far ahead it may be.

    A duration is insane above `max_duration_ms` (24 h), or, for video content whose own
    duration is known, above `content_factor` x that duration + `content_slack_ms`: a player
    may pause, buffer or loop a little, but not play a 30 s clip for ten minutes. Images and
    web pages have no intrinsic length (the schedule decides how long they show), so only the
    24 h cap applies to them.
    """

    retention_days: int = 400
    clock_skew: timedelta = timedelta(seconds=DEFAULT_CLOCK_SKEW_S)
    max_backdate_days: int = DEFAULT_MAX_BACKDATE_DAYS
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    max_duration_ms: int = DAY_MS
    content_factor: int = 3
    content_slack_ms: int = 60_000
    max_batch_events: int = MAX_BATCH_EVENTS

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestPolicy:
        return cls(
            retention_days=settings.pop_retention_days,
            clock_skew=timedelta(seconds=settings.pop_clock_skew_s),
            max_backdate_days=settings.pop_max_backdate_days,
        )

    @property
    def backdate_days(self) -> int:
        """How old a device_time may be. Never beyond retention: event ids (the idempotency
        keys) are kept as long as raw events, so any event old enough to have lost its key is
        refused as too old instead of being counted a second time."""
        return min(self.max_backdate_days, self.retention_days)

    def content_limit_ms(self, content_duration_ms: int) -> int:
        return min(
            self.max_duration_ms, self.content_factor * content_duration_ms + self.content_slack_ms
        )


@dataclass(frozen=True)
class DeviceContext:
    """Who sent the batch: always from the token and the device record, never the body."""

    device_id: uuid.UUID
    store_id: uuid.UUID | None
    timezone: str = "UTC"

    @property
    def store_key(self) -> uuid.UUID:
        return self.store_id or NO_STORE


@dataclass(frozen=True)
class EventError:
    index: int
    event_id: str | None
    code: RejectCode
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "code": self.code.value,
            "message": self.message,
        }


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[EventError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [error.as_dict() for error in self.errors],
        }
