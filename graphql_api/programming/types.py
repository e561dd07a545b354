"""GraphQL types of campaigns, playlists (with items) and schedules."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from core.campaigns import models as campaign_models
from core.db.enums import TargetType
from core.playlists import models as playlist_models
from core.schedules import models as schedule_models
from core.scheduling.rules import ScheduleRules as CoreScheduleRules
from core.scheduling.validation import parse_rules
from graphql_api.content.loaders import (
    ContentByIdLoader,
    ContentVersionByIdLoader,
    LatestVersionByContentIdLoader,
)
from graphql_api.content.types import Content, ContentVersion
from graphql_api.context import AppInfo
from graphql_api.copying import copy_fields
from graphql_api.fleet.loaders import DeviceByIdLoader, GroupByIdLoader
from graphql_api.fleet.types import Device, DeviceGroup
from graphql_api.programming.loaders import (
    CampaignByIdLoader,
    ItemsByPlaylistIdLoader,
    PlaylistByIdLoader,
)

strawberry.enum(
    TargetType, name="TargetType", description="What a schedule targets: one device or a group."
)


@strawberry.type(description="A brand's campaign; its dates bound when its schedules play.")
class Campaign:
    id: uuid.UUID
    brand_name: str
    name: str
    start_date: date
    end_date: date = strawberry.field(description="Inclusive.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, campaign: campaign_models.Campaign) -> Campaign:
        return copy_fields(cls, campaign)

    @classmethod
    def from_row(cls, row: Row[Any]) -> Campaign:
        return cls.from_model(campaign_models.Campaign.from_row(row))


async def load_campaign(info: AppInfo, campaign_id: uuid.UUID | None) -> Campaign | None:
    if campaign_id is None:
        return None
    row = await info.context.loaders.get(CampaignByIdLoader).load(campaign_id)
    return Campaign.from_row(row) if row is not None else None


@strawberry.type(description="One entry of a playlist.")
class PlaylistItem:
    id: uuid.UUID
    playlist_id: uuid.UUID
    content_id: uuid.UUID
    content_version_id: uuid.UUID | None = strawberry.field(
        description="The pinned version; null when the item follows the latest version."
    )
    order_index: int = strawberry.field(description="0-based play position.")
    weight: int = strawberry.field(description="Share of voice when playlists interleave.")
    duration_ms: int | None = strawberry.field(
        description="Display time override; null uses the version's duration."
    )
    created_at: datetime

    @strawberry.field
    def follows_latest(self) -> bool:
        return self.content_version_id is None

    @strawberry.field
    async def content(self, info: AppInfo) -> Content | None:
        row = await info.context.loaders.get(ContentByIdLoader).load(self.content_id)
        return Content.from_row(row) if row is not None else None

    @strawberry.field(
        description="The version that plays: the pinned one, else the content's latest (null "
        "while the content has no version)."
    )
    async def version(self, info: AppInfo) -> ContentVersion | None:
        if self.content_version_id is not None:
            row = await info.context.loaders.get(ContentVersionByIdLoader).load(
                self.content_version_id
            )
            return ContentVersion.from_row(row) if row is not None else None
        latest = await info.context.loaders.get(LatestVersionByContentIdLoader).load(
            self.content_id
        )
        return ContentVersion.from_model(latest) if latest is not None else None

    @classmethod
    def from_model(cls, item: playlist_models.PlaylistItem) -> PlaylistItem:
        return copy_fields(cls, item)


@strawberry.type
class Playlist:
    id: uuid.UUID
    name: str
    campaign_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    async def campaign(self, info: AppInfo) -> Campaign | None:
        return await load_campaign(info, self.campaign_id)

    @strawberry.field(description="In play order.")
    async def items(self, info: AppInfo) -> list[PlaylistItem]:
        found = await info.context.loaders.get(ItemsByPlaylistIdLoader).load(self.id)
        return [PlaylistItem.from_model(item) for item in found]

    @classmethod
    def from_model(cls, playlist: playlist_models.Playlist) -> Playlist:
        return copy_fields(cls, playlist)

    @classmethod
    def from_row(cls, row: Row[Any]) -> Playlist:
        return cls.from_model(playlist_models.Playlist.from_row(row))


@strawberry.enum(description="ITEM: plays of each content item; CAMPAIGN: all plays together.")
class FrequencyCapScope(Enum):
    ITEM = "ITEM"
    CAMPAIGN = "CAMPAIGN"


@strawberry.type(
    description="Local time range on ISO weekdays (1 = Monday). `end` <= `start` "
    "runs past midnight and belongs to the weekday it starts on."
)
class ScheduleDaypart:
    weekdays: list[int]
    start: str
    end: str


@strawberry.type(description="Inclusive local dates.")
class ScheduleDateRange:
    start: date
    end: date


@strawberry.type(description="At most `maxPlays` per sliding `perSeconds`, enforced by players.")
class ScheduleFrequencyCap:
    scope: FrequencyCapScope
    max_plays: int
    per_seconds: int
    content_id: uuid.UUID | None


@strawberry.type(description="When a schedule plays. No dayparts means all day, every day.")
class ScheduleRules:
    dayparts: list[ScheduleDaypart]
    date_ranges: list[ScheduleDateRange]
    exclusions: list[ScheduleDateRange]
    frequency_caps: list[ScheduleFrequencyCap]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ScheduleRules:
        rules: CoreScheduleRules = parse_rules(raw)
        return cls(
            dayparts=[
                ScheduleDaypart(weekdays=list(d.weekdays), start=d.start, end=d.end)
                for d in rules.dayparts
            ],
            date_ranges=[ScheduleDateRange(start=r.start, end=r.end) for r in rules.date_ranges],
            exclusions=[ScheduleDateRange(start=r.start, end=r.end) for r in rules.exclusions],
            frequency_caps=[
                ScheduleFrequencyCap(
                    scope=FrequencyCapScope(c.scope),
                    max_plays=c.max_plays,
                    per_seconds=c.per_seconds,
                    content_id=c.content_id,
                )
                for c in rules.frequency_caps
            ],
        )


ScheduleTarget = Annotated[Device | DeviceGroup, strawberry.union("ScheduleTarget")]


@strawberry.type
class Schedule:
    id: uuid.UUID
    name: str
    target_type: TargetType
    target_id: uuid.UUID
    playlist_id: uuid.UUID
    campaign_id: uuid.UUID | None
    timezone: str | None = strawberry.field(
        description="IANA zone of the rules; null means each device's store timezone."
    )
    priority: int = strawberry.field(description="-1000..1000; higher wins.")
    rules: ScheduleRules
    valid_from: date | None
    valid_to: date | None
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The device or group; null if it no longer exists.")
    async def target(self, info: AppInfo) -> ScheduleTarget | None:
        if self.target_type is TargetType.DEVICE:
            row = await info.context.loaders.get(DeviceByIdLoader).load(self.target_id)
            return Device.from_row(row) if row is not None else None
        row = await info.context.loaders.get(GroupByIdLoader).load(self.target_id)
        return DeviceGroup.from_row(row) if row is not None else None

    @strawberry.field
    async def playlist(self, info: AppInfo) -> Playlist | None:
        row = await info.context.loaders.get(PlaylistByIdLoader).load(self.playlist_id)
        return Playlist.from_row(row) if row is not None else None

    @strawberry.field
    async def campaign(self, info: AppInfo) -> Campaign | None:
        return await load_campaign(info, self.campaign_id)

    @classmethod
    def from_model(cls, schedule: schedule_models.Schedule) -> Schedule:
        return copy_fields(cls, schedule, rules=ScheduleRules.from_json(schedule.rules))

    @classmethod
    def from_row(cls, row: Row[Any]) -> Schedule:
        return cls.from_model(schedule_models.Schedule.from_row(row))


@strawberry.type
class CampaignSuccess:
    campaign: Campaign


@strawberry.type
class PlaylistSuccess:
    playlist: Playlist


@strawberry.type
class PlaylistItemSuccess:
    item: PlaylistItem

    @strawberry.field
    async def playlist(self, info: AppInfo) -> Playlist | None:
        row = await info.context.loaders.get(PlaylistByIdLoader).load(self.item.playlist_id)
        return Playlist.from_row(row) if row is not None else None


@strawberry.type
class ScheduleSuccess:
    schedule: Schedule
