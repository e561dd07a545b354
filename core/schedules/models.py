"""Schedule values returned by the schedule services, and their input."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core.db.enums import TargetType


@dataclass(frozen=True)
class Schedule:
    id: uuid.UUID
    name: str
    target_type: TargetType
    target_id: uuid.UUID
    playlist_id: uuid.UUID
    campaign_id: uuid.UUID | None
    timezone: str | None
    priority: int
    rules: dict[str, Any]
    valid_from: date | None
    valid_to: date | None
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Schedule:
        return cls(
            id=row.id,
            name=row.name,
            target_type=TargetType(row.target_type),
            target_id=row.target_id,
            playlist_id=row.playlist_id,
            campaign_id=row.campaign_id,
            timezone=row.timezone,
            priority=row.priority,
            rules=dict(row.rules_json),
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class ScheduleInput:
    """Everything a schedule is; updates replace it whole, so one validation covers both.

    `timezone` None means "the store's timezone" for each targeted device; `rules` is the raw
    JSON the console sent, validated by `core.scheduling.validation.parse_rules`.
    """

    target_type: str
    target_id: uuid.UUID
    playlist_id: uuid.UUID
    name: str = ""
    campaign_id: uuid.UUID | None = None
    timezone: str | None = None
    priority: int = 0
    rules: object = field(default_factory=dict)
    valid_from: date | None = None
    valid_to: date | None = None
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleFilter:
    target_type: TargetType | None = None
    target_id: uuid.UUID | None = None
    playlist_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    enabled: bool | None = None
