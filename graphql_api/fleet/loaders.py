"""Per-request DataLoaders of the fleet (create them via `info.context.loaders.get`)."""

from __future__ import annotations

from core.db.enums import DeviceStatus
from core.db.tables import device_groups, devices, stores
from graphql_api.loaders import CountByKeyLoader, RowByIdLoader


class StoreByIdLoader(RowByIdLoader):
    table = stores


class GroupByIdLoader(RowByIdLoader):
    table = device_groups


class DeviceByIdLoader(RowByIdLoader):
    table = devices


_ACTIVE = (devices.c.status != DeviceStatus.DECOMMISSIONED.value,)


class DeviceCountByStoreIdLoader(CountByKeyLoader):
    table = devices
    column = "store_id"
    where = _ACTIVE


class DeviceCountByGroupIdLoader(CountByKeyLoader):
    table = devices
    column = "group_id"
    where = _ACTIVE
