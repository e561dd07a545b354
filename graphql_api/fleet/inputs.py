"""Input types of the fleet, and their conversion to the plain mappings `core.fleet` takes.

Update inputs distinguish a field left out (unchanged) from an explicit null (cleared): only
fields the client actually sent reach the service.
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET

from core.fleet.opening_hours import DAYS
from graphql_api.fleet.enums import DeviceStatus, SyncState
from graphql_api.scalars import BigInt


@strawberry.input
class TimeRangeInput:
    open: str = strawberry.field(description="HH:MM, store-local.")
    close: str = strawberry.field(description="HH:MM; before `open` runs past midnight; 24:00 ok.")


@strawberry.input(description="Intervals per weekday; a missing, null or empty day is closed.")
class OpeningHoursInput:
    mon: list[TimeRangeInput] | None = None
    tue: list[TimeRangeInput] | None = None
    wed: list[TimeRangeInput] | None = None
    thu: list[TimeRangeInput] | None = None
    fri: list[TimeRangeInput] | None = None
    sat: list[TimeRangeInput] | None = None
    sun: list[TimeRangeInput] | None = None

    def to_core(self) -> dict[str, list[dict[str, str]] | None]:
        result: dict[str, list[dict[str, str]] | None] = {}
        for day in DAYS:
            intervals = getattr(self, day)
            result[day] = (
                None
                if intervals is None
                else [{"open": i.open, "close": i.close} for i in intervals]
            )
        return result


def _given(obj: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields the client sent (UNSET ones are left out), converting nested inputs."""
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if value is UNSET:
            continue
        values[name] = value.to_core() if isinstance(value, OpeningHoursInput) else value
    return values


STORE_INPUT_FIELDS = ("name", "city", "area", "address", "timezone", "opening_hours")


@strawberry.input
class CreateStoreInput:
    name: str
    timezone: str = strawberry.field(description="IANA timezone, e.g. Europe/Berlin.")
    city: str | None = None
    area: str | None = None
    address: str | None = None
    opening_hours: OpeningHoursInput | None = None

    def to_core(self) -> dict[str, Any]:
        return _given(self, STORE_INPUT_FIELDS)


@strawberry.input(description="Only the fields sent change; `openingHours` replaces the week.")
class UpdateStoreInput:
    name: str | None = UNSET
    timezone: str | None = UNSET
    city: str | None = UNSET
    area: str | None = UNSET
    address: str | None = UNSET
    opening_hours: OpeningHoursInput | None = UNSET

    def to_core(self) -> dict[str, Any]:
        return _given(self, STORE_INPUT_FIELDS)


GROUP_INPUT_FIELDS = (
    "name",
    "heartbeat_interval_seconds",
    "offline_threshold_seconds",
    "storage_cap_bytes",
    "default_playlist_id",
)


@strawberry.input
class CreateDeviceGroupInput:
    name: str
    heartbeat_interval_seconds: int | None = strawberry.field(
        default=None, description="10-3600, default 60."
    )
    offline_threshold_seconds: int | None = strawberry.field(
        default=None, description="Default: 3 heartbeat intervals."
    )
    storage_cap_bytes: BigInt | None = None
    default_playlist_id: uuid.UUID | None = None

    def to_core(self) -> dict[str, Any]:
        return {k: v for k, v in _given(self, GROUP_INPUT_FIELDS).items() if v is not None}


@strawberry.input(
    description="Only the fields sent change. A null threshold returns to the default."
)
class UpdateDeviceGroupInput:
    name: str | None = UNSET
    heartbeat_interval_seconds: int | None = UNSET
    offline_threshold_seconds: int | None = UNSET
    storage_cap_bytes: BigInt | None = UNSET
    default_playlist_id: uuid.UUID | None = UNSET

    def to_core(self) -> dict[str, Any]:
        return _given(self, GROUP_INPUT_FIELDS)


@strawberry.input(description="A null id unassigns; a field left out stays as it is.")
class AssignDevicesInput:
    store_id: uuid.UUID | None = UNSET
    group_id: uuid.UUID | None = UNSET

    def to_core(self) -> dict[str, Any]:
        return _given(self, ("store_id", "group_id"))


@strawberry.input
class DeviceFilter:
    store_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    status: list[DeviceStatus] | None = strawberry.field(
        default=None, description="Default: every status except DECOMMISSIONED."
    )
    search: str | None = strawberry.field(default=None, description="Part of the name.")
    unassigned: bool | None = strawberry.field(
        default=None, description="true: missing a store or group; false: has both."
    )
    sync_state: list[SyncState] | None = strawberry.field(
        default=None, description="Only devices in one of these sync states."
    )
    in_sync: bool | None = strawberry.field(
        default=None,
        description="false: devices not IN_SYNC (pending, downloading or failed); true: only "
        "IN_SYNC ones.",
    )


@strawberry.enum
class DeviceOrder(Enum):
    CREATED_AT = "created_at"
    NAME = "name"


@strawberry.input
class StoreFilter:
    search: str | None = strawberry.field(
        default=None, description="Part of the name, city or area."
    )
    city: str | None = None


@strawberry.input
class DeviceGroupFilter:
    search: str | None = None
