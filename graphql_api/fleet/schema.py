"""Stores, device groups and devices: queries and mutations."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from core.db.tables import device_groups, devices, stores
from core.fleet import devices as device_service
from core.fleet import groups as group_service
from core.fleet import stores as store_service
from core.fleet.queries import (
    DEVICE_SORT_NAME,
    GROUP_SORT_NAME,
    STORE_SORT_NAME,
    devices_query,
    groups_query,
    stores_query,
)
from core.fleet.queries import DeviceFilter as CoreDeviceFilter
from graphql_api.context import AppInfo
from graphql_api.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from graphql_api.fleet.inputs import (
    AssignDevicesInput,
    CreateDeviceGroupInput,
    CreateStoreInput,
    DeviceFilter,
    DeviceGroupFilter,
    DeviceOrder,
    StoreFilter,
    UpdateDeviceGroupInput,
    UpdateStoreInput,
)
from graphql_api.fleet.loaders import DeviceByIdLoader, GroupByIdLoader, StoreByIdLoader
from graphql_api.fleet.types import (
    Device,
    DeviceGroup,
    DeviceGroupSuccess,
    DevicesSuccess,
    DeviceSuccess,
    Store,
    StoreSuccess,
)
from graphql_api.payloads import DeleteSuccess
from graphql_api.permissions import CanManageFleet, CanRead
from graphql_api.relay import (
    Connection,
    PageArgs,
    by_created,
    by_sort_name,
    paginate,
)

CreateStoreResult = Annotated[
    StoreSuccess | ValidationError | PermissionDeniedError, strawberry.union("CreateStoreResult")
]
UpdateStoreResult = Annotated[
    StoreSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("UpdateStoreResult"),
]
DeleteResult = Annotated[
    DeleteSuccess | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("DeleteResult"),
]
CreateDeviceGroupResult = Annotated[
    DeviceGroupSuccess | ValidationError | ConflictError | PermissionDeniedError,
    strawberry.union("CreateDeviceGroupResult"),
]
UpdateDeviceGroupResult = Annotated[
    DeviceGroupSuccess | ValidationError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("UpdateDeviceGroupResult"),
]
DeviceResult = Annotated[
    DeviceSuccess | ValidationError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("DeviceResult"),
]
AssignDevicesResult = Annotated[
    DevicesSuccess | ValidationError | PermissionDeniedError,
    strawberry.union("AssignDevicesResult"),
]

DEVICES_BY_CREATED = by_created(devices)
DEVICES_BY_NAME = by_sort_name(devices, DEVICE_SORT_NAME)
STORES_BY_NAME = by_sort_name(stores, STORE_SORT_NAME)
GROUPS_BY_NAME = by_sort_name(device_groups, GROUP_SORT_NAME)


@strawberry.type
class FleetQuery:
    @strawberry.field(permission_classes=[CanRead], description="Stores, by name.")
    async def stores(
        self,
        info: AppInfo,
        filter: StoreFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Store]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or StoreFilter()
        stmt = stores_query(search=f.search, city=f.city)
        return await paginate(info.context, stmt, STORES_BY_NAME, page, Store.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def store(self, info: AppInfo, id: uuid.UUID) -> Store | None:
        row = await info.context.loaders.get(StoreByIdLoader).load(id)
        return Store.from_row(row) if row is not None else None

    @strawberry.field(permission_classes=[CanRead], description="Device groups, by name.")
    async def device_groups(
        self,
        info: AppInfo,
        filter: DeviceGroupFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[DeviceGroup]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        stmt = groups_query(search=(filter or DeviceGroupFilter()).search)
        return await paginate(info.context, stmt, GROUPS_BY_NAME, page, DeviceGroup.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def device_group(self, info: AppInfo, id: uuid.UUID) -> DeviceGroup | None:
        row = await info.context.loaders.get(GroupByIdLoader).load(id)
        return DeviceGroup.from_row(row) if row is not None else None

    @strawberry.field(permission_classes=[CanRead])
    async def devices(
        self,
        info: AppInfo,
        filter: DeviceFilter | None = None,
        order_by: DeviceOrder = DeviceOrder.CREATED_AT,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Device]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or DeviceFilter()
        stmt = devices_query(
            CoreDeviceFilter(
                store_id=f.store_id,
                group_id=f.group_id,
                statuses=f.status,
                search=f.search,
                unassigned=f.unassigned,
                sync_states=f.sync_state,
                in_sync=f.in_sync,
            )
        )
        ordering = DEVICES_BY_NAME if order_by is DeviceOrder.NAME else DEVICES_BY_CREATED
        return await paginate(info.context, stmt, ordering, page, Device.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def device(self, info: AppInfo, id: uuid.UUID) -> Device | None:
        row = await info.context.loaders.get(DeviceByIdLoader).load(id)
        return Device.from_row(row) if row is not None else None


@strawberry.type
class FleetMutation:
    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def create_store(self, info: AppInfo, input: CreateStoreInput) -> CreateStoreResult:
        row = await store_service.create_store(
            info.context.services, info.context.require_actor(), input.to_core()
        )
        return StoreSuccess(store=Store.from_row(row))

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def update_store(
        self, info: AppInfo, id: uuid.UUID, input: UpdateStoreInput
    ) -> UpdateStoreResult:
        row = await store_service.update_store(
            info.context.services, info.context.require_actor(), id, input.to_core()
        )
        return StoreSuccess(store=Store.from_row(row))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Delete a store no device is assigned to.",
    )
    async def delete_store(self, info: AppInfo, id: uuid.UUID) -> DeleteResult:
        await store_service.delete_store(info.context.services, info.context.require_actor(), id)
        return DeleteSuccess(id=id)

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def create_device_group(
        self, info: AppInfo, input: CreateDeviceGroupInput
    ) -> CreateDeviceGroupResult:
        row = await group_service.create_group(
            info.context.services, info.context.require_actor(), input.to_core()
        )
        return DeviceGroupSuccess(group=DeviceGroup.from_row(row))

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def update_device_group(
        self, info: AppInfo, id: uuid.UUID, input: UpdateDeviceGroupInput
    ) -> UpdateDeviceGroupResult:
        row = await group_service.update_group(
            info.context.services, info.context.require_actor(), id, input.to_core()
        )
        return DeviceGroupSuccess(group=DeviceGroup.from_row(row))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Delete a group without devices and without schedules targeting it.",
    )
    async def delete_device_group(self, info: AppInfo, id: uuid.UUID) -> DeleteResult:
        await group_service.delete_group(info.context.services, info.context.require_actor(), id)
        return DeleteSuccess(id=id)

    @strawberry.mutation(
        permission_classes=[CanManageFleet], description="A null or blank name clears it."
    )
    async def rename_device(self, info: AppInfo, id: uuid.UUID, name: str | None) -> DeviceResult:
        row = await device_service.rename_device(
            info.context.services, info.context.require_actor(), id, name
        )
        return DeviceSuccess(device=Device.from_row(row))

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def assign_device(
        self, info: AppInfo, id: uuid.UUID, input: AssignDevicesInput
    ) -> DeviceResult:
        row = await device_service.assign_device(
            info.context.services, info.context.require_actor(), id, input.to_core()
        )
        return DeviceSuccess(device=Device.from_row(row))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Assign up to 500 devices at once: all or none.",
    )
    async def assign_devices(
        self, info: AppInfo, device_ids: list[uuid.UUID], input: AssignDevicesInput
    ) -> AssignDevicesResult:
        rows = await device_service.assign_devices(
            info.context.services, info.context.require_actor(), device_ids, input.to_core()
        )
        return DevicesSuccess(devices=[Device.from_row(row) for row in rows])

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Retire a device: its tokens stop working at once. Cannot be undone.",
    )
    async def decommission_device(self, info: AppInfo, id: uuid.UUID) -> DeviceResult:
        row = await device_service.decommission_device(
            info.context.services, info.context.require_actor(), id
        )
        return DeviceSuccess(device=Device.from_row(row))
