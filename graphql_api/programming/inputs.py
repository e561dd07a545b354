"""GraphQL inputs of campaigns, playlists and schedules, and their conversion to core input.

Schedule rules are typed inputs here, turned into the rules JSON that
`core.scheduling.validation.parse_rules` judges; its error paths (e.g.
`rules.frequency_caps[0].max_plays`) come back camel-cased, so they name these input fields.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import strawberry

from core.campaigns.models import CampaignInput as CoreCampaignInput
from core.db.enums import TargetType
from core.schedules.models import ScheduleInput as CoreScheduleInput
from graphql_api.programming.types import FrequencyCapScope


@strawberry.input
class CampaignInput:
    brand_name: str
    name: str
    start_date: date
    end_date: date = strawberry.field(description="Inclusive; not before `startDate`.")

    def to_core(self) -> CoreCampaignInput:
        return CoreCampaignInput(self.brand_name, self.name, self.start_date, self.end_date)


@strawberry.input
class CampaignFilter:
    search: str | None = strawberry.field(default=None, description="Part of name or brand.")
    active_on: date | None = None


@strawberry.input
class CreatePlaylistInput:
    name: str
    campaign_id: uuid.UUID | None = None


@strawberry.input
class PlaylistFilter:
    campaign_id: uuid.UUID | None = None
    search: str | None = strawberry.field(default=None, description="Part of the name.")


@strawberry.input
class AddPlaylistItemInput:
    playlist_id: uuid.UUID
    content_id: uuid.UUID
    content_version_id: uuid.UUID | None = strawberry.field(
        default=None, description="Pin this version; omit to follow the latest version."
    )
    weight: int = 1
    duration_ms: int | None = None


@strawberry.input
class ScheduleDaypartInput:
    weekdays: list[int] = strawberry.field(description="ISO weekdays, 1 = Monday ... 7.")
    start: str = strawberry.field(description="HH:MM local time.")
    end: str = strawberry.field(description="HH:MM or 24:00; <= start runs past midnight.")


@strawberry.input
class ScheduleDateRangeInput:
    start: date
    end: date | None = strawberry.field(
        default=None, description="Inclusive; required in date ranges, optional in exclusions."
    )


@strawberry.input
class ScheduleFrequencyCapInput:
    scope: FrequencyCapScope
    max_plays: int
    per_seconds: int
    content_id: uuid.UUID | None = None


@strawberry.input
class ScheduleRulesInput:
    dayparts: list[ScheduleDaypartInput] = strawberry.field(default_factory=list)
    date_ranges: list[ScheduleDateRangeInput] = strawberry.field(default_factory=list)
    exclusions: list[ScheduleDateRangeInput] = strawberry.field(default_factory=list)
    frequency_caps: list[ScheduleFrequencyCapInput] = strawberry.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def date_range(r: ScheduleDateRangeInput) -> dict[str, Any]:
            return {"start": r.start} if r.end is None else {"start": r.start, "end": r.end}

        return {
            "dayparts": [
                {"weekdays": list(d.weekdays), "start": d.start, "end": d.end}
                for d in self.dayparts
            ],
            "date_ranges": [date_range(r) for r in self.date_ranges],
            "exclusions": [r.start if r.end is None else date_range(r) for r in self.exclusions],
            "frequency_caps": [
                {
                    "scope": c.scope.value,
                    "max_plays": c.max_plays,
                    "per_seconds": c.per_seconds,
                    "content_id": c.content_id,
                }
                for c in self.frequency_caps
            ],
        }


@strawberry.input(description="A whole schedule; updates replace every field.")
class ScheduleInput:
    target_type: TargetType
    target_id: uuid.UUID
    playlist_id: uuid.UUID
    name: str = ""
    campaign_id: uuid.UUID | None = None
    timezone: str | None = strawberry.field(
        default=None, description="IANA zone; omit to use each device's store timezone."
    )
    priority: int = 0
    rules: ScheduleRulesInput | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    enabled: bool = True

    def to_core(self) -> CoreScheduleInput:
        return CoreScheduleInput(
            target_type=self.target_type.value,
            target_id=self.target_id,
            playlist_id=self.playlist_id,
            name=self.name,
            campaign_id=self.campaign_id,
            timezone=self.timezone,
            priority=self.priority,
            rules=self.rules.to_json() if self.rules is not None else {},
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            enabled=self.enabled,
        )


@strawberry.input
class ScheduleFilter:
    target_type: TargetType | None = None
    target_id: uuid.UUID | None = None
    playlist_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    enabled: bool | None = None
