"""GraphQL types of stores, device groups and devices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.scalars import JSON

from core.fleet.opening_hours import DAYS
from core.fleet.policy import GroupPolicy
from graphql_api.context import AppInfo
from graphql_api.copying import copy_fields
from graphql_api.fleet.enums import DeviceStatus, SyncState
from graphql_api.fleet.loaders import (
    DeviceCountByGroupIdLoader,
    DeviceCountByStoreIdLoader,
    GroupByIdLoader,
    StoreByIdLoader,
)
from graphql_api.fleet.sync import (
    ContentVersionFailure,
    ContentVersionRef,
    failed_versions,
    missing_versions,
)
from graphql_api.scalars import BigInt

if TYPE_CHECKING:
    from graphql_api.programming.types import Playlist


@strawberry.type(
    description="An opening interval in store-local time; close < open runs "
    "past midnight, 00:00-24:00 is all day."
)
class TimeRange:
    open: str
    close: str


@strawberry.type(description="Opening intervals per weekday; an empty list is a closed day.")
class OpeningHours:
    mon: list[TimeRange]
    tue: list[TimeRange]
    wed: list[TimeRange]
    thu: list[TimeRange]
    fri: list[TimeRange]
    sat: list[TimeRange]
    sun: list[TimeRange]

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> OpeningHours:
        raw = raw or {}
        days = {
            day: [TimeRange(open=i["open"], close=i["close"]) for i in raw.get(day) or []]
            for day in DAYS
        }
        return cls(**days)


@strawberry.type
class Store:
    id: uuid.UUID
    name: str
    city: str | None
    area: str | None
    address: str | None
    timezone: str = strawberry.field(description="IANA timezone, e.g. Europe/Berlin.")
    opening_hours: OpeningHours
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Devices assigned to this store (decommissioned excluded).")
    async def device_count(self, info: AppInfo) -> int:
        return await info.context.loaders.get(DeviceCountByStoreIdLoader).load(self.id)

    @classmethod
    def from_row(cls, row: Row[Any]) -> Store:
        return copy_fields(cls, row, opening_hours=OpeningHours.from_json(row.operating_hours_json))


@strawberry.type(
    name="GroupPolicy", description="How the devices of a group behave and are monitored."
)
class GroupPolicyType:
    heartbeat_interval_seconds: int
    offline_threshold_seconds: int = strawberry.field(
        description="Offline after this long without a heartbeat (default 3 intervals)."
    )
    storage_cap_bytes: BigInt | None


@strawberry.type(name="DeviceGroup")
class DeviceGroup:
    id: uuid.UUID
    name: str
    policy: GroupPolicyType
    default_playlist_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Devices in this group (decommissioned excluded).")
    async def device_count(self, info: AppInfo) -> int:
        return await info.context.loaders.get(DeviceCountByGroupIdLoader).load(self.id)

    @strawberry.field(description="What the group's devices play when no schedule applies.")
    async def default_playlist(
        self, info: AppInfo
    ) -> Annotated[Playlist, strawberry.lazy("graphql_api.programming.types")] | None:
        if self.default_playlist_id is None:
            return None
        # Imported here: the programming types import this module.
        from graphql_api.programming.loaders import PlaylistByIdLoader
        from graphql_api.programming.types import Playlist

        row = await info.context.loaders.get(PlaylistByIdLoader).load(self.default_playlist_id)
        return Playlist.from_row(row) if row is not None else None

    @classmethod
    def from_row(cls, row: Row[Any]) -> DeviceGroup:
        policy = GroupPolicy.from_json(row.policy_json)
        return cls(
            id=row.id,
            name=row.name,
            policy=GroupPolicyType(
                heartbeat_interval_seconds=policy.heartbeat_interval_s,
                offline_threshold_seconds=policy.offline_threshold_s,
                storage_cap_bytes=(
                    None if policy.storage_cap_bytes is None else BigInt(policy.storage_cap_bytes)
                ),
            ),
            default_playlist_id=row.default_playlist_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type
class Device:
    id: uuid.UUID
    name: str | None = strawberry.field(description="Display name (`external_name`).")
    status: DeviceStatus
    status_changed_at: datetime | None
    last_seen_at: datetime | None
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    player_version: str | None
    device_info: JSON
    disk_used_bytes: BigInt | None
    now_playing: JSON | None
    last_error: str | None
    counters: JSON
    reported_plan_etag: str | None = strawberry.field(
        description="ETag of the plan the player said it runs, at its latest heartbeat."
    )
    desired_plan_etag: str | None = strawberry.field(
        description="ETag of the plan the device should run (its stored plan); null before "
        "its first plan."
    )
    sync_state: SyncState = strawberry.field(
        description="Desired plan versus what the player reports (docs/convergence.md)."
    )
    sync_state_since: datetime = strawberry.field(
        description="When the device entered its current sync state."
    )
    decommissioned_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    async def store(self, info: AppInfo) -> Store | None:
        if self.store_id is None:
            return None
        row = await info.context.loaders.get(StoreByIdLoader).load(self.store_id)
        return Store.from_row(row) if row is not None else None

    @strawberry.field(
        description="Content versions of the desired plan the player has not reported as "
        "downloaded; null when the player does not report its cache."
    )
    async def missing_content_versions(self, info: AppInfo) -> list[ContentVersionRef] | None:
        return await missing_versions(info, self.id)

    @strawberry.field(
        description="Content versions the player reported it failed to download (its latest "
        "report); those the desired plan needs make the device FAILED."
    )
    async def failed_content_versions(self, info: AppInfo) -> list[ContentVersionFailure]:
        return await failed_versions(info, self.id)

    @strawberry.field
    async def group(self, info: AppInfo) -> DeviceGroup | None:
        if self.group_id is None:
            return None
        row = await info.context.loaders.get(GroupByIdLoader).load(self.group_id)
        return DeviceGroup.from_row(row) if row is not None else None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Device:
        return copy_fields(
            cls,
            row,
            name=row.external_name,
            status=DeviceStatus(row.status),
            sync_state=SyncState(row.sync_state),
            device_info=row.device_info_json,
            now_playing=row.now_playing_json,
            counters=row.counters_json,
        )


@strawberry.type
class StoreSuccess:
    store: Store


@strawberry.type
class DeviceGroupSuccess:
    group: DeviceGroup


@strawberry.type
class DeviceSuccess:
    device: Device


@strawberry.type
class DevicesSuccess:
    devices: list[Device]
