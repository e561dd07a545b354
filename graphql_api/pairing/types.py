"""GraphQL types of device claims."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from core.db.enums import ClaimFlow, ClaimStatus
from core.pairing.console import ClaimView
from graphql_api.context import AppInfo
from graphql_api.copying import copy_fields
from graphql_api.fleet.loaders import DeviceByIdLoader, GroupByIdLoader, StoreByIdLoader
from graphql_api.fleet.types import Device, DeviceGroup, Store

strawberry.enum(
    ClaimFlow,
    name="ClaimFlow",
    description="SCREEN: the player shows the code and a person approves it; CONSOLE: the "
    "console pre-assigned the code and an installer types it on the player.",
)
strawberry.enum(
    ClaimStatus,
    name="ClaimStatus",
    description="PENDING: a screen code awaiting a decision; APPROVED: can be exchanged by "
    "the player; DENIED; USED: exchanged for a device.",
)


@strawberry.type(description="A claim code that pairs a player with the fleet.")
class DeviceClaim:
    id: uuid.UUID
    claim_code: str = strawberry.field(description="Canonical form: 8 letters, no dash.")
    display_code: str = strawberry.field(description='As players show it: "XXXX-XXXX".')
    flow: ClaimFlow
    status: ClaimStatus
    expired: bool = strawberry.field(description="Unused and past `expiresAt`.")
    expires_at: datetime
    created_at: datetime
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    name: str | None = strawberry.field(description="Name the device will get.")
    device_info: JSON = strawberry.field(description="What the player reported about itself.")
    approved_at: datetime | None
    denied_at: datetime | None
    used_at: datetime | None
    device_id: uuid.UUID | None = strawberry.field(description="The device it paired, once used.")

    @strawberry.field
    async def store(self, info: AppInfo) -> Store | None:
        if self.store_id is None:
            return None
        row = await info.context.loaders.get(StoreByIdLoader).load(self.store_id)
        return Store.from_row(row) if row is not None else None

    @strawberry.field
    async def group(self, info: AppInfo) -> DeviceGroup | None:
        if self.group_id is None:
            return None
        row = await info.context.loaders.get(GroupByIdLoader).load(self.group_id)
        return DeviceGroup.from_row(row) if row is not None else None

    @strawberry.field
    async def device(self, info: AppInfo) -> Device | None:
        if self.device_id is None:
            return None
        row = await info.context.loaders.get(DeviceByIdLoader).load(self.device_id)
        return Device.from_row(row) if row is not None else None

    @classmethod
    def from_view(cls, view: ClaimView) -> DeviceClaim:
        return copy_fields(
            cls, view, name=view.external_name, device_info=cast(JSON, view.device_info)
        )


@strawberry.type
class DeviceClaimSuccess:
    claim: DeviceClaim


@strawberry.type
class DeviceClaimsSuccess:
    claims: list[DeviceClaim]
