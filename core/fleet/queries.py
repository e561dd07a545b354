"""Read-side statements for stores, groups and devices (filters only; the API pages them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from core.db.enums import DeviceStatus, SyncState
from core.db.tables import device_groups, devices, stores
from core.validation import contains_pattern

# Sort key of devices by name: unnamed devices last, case-insensitive.
DEVICE_SORT_NAME = sa.func.coalesce(sa.func.lower(devices.c.external_name), "\uffff").label(
    "sort_name"
)
STORE_SORT_NAME = sa.func.lower(stores.c.name).label("sort_name")
GROUP_SORT_NAME = sa.func.lower(device_groups.c.name).label("sort_name")


@dataclass(frozen=True)
class DeviceFilter:
    store_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    # None: every status except decommissioned (retired devices are hidden unless asked for).
    statuses: Sequence[DeviceStatus] | None = None
    search: str | None = None
    unassigned: bool | None = None
    sync_states: Sequence[SyncState] | None = None
    in_sync: bool | None = None  # False: every state but IN_SYNC


def devices_query(f: DeviceFilter) -> sa.Select[Any]:
    stmt = sa.select(devices, DEVICE_SORT_NAME)
    if f.store_id is not None:
        stmt = stmt.where(devices.c.store_id == f.store_id)
    if f.group_id is not None:
        stmt = stmt.where(devices.c.group_id == f.group_id)
    if f.statuses:
        stmt = stmt.where(devices.c.status.in_([status.value for status in f.statuses]))
    else:
        stmt = stmt.where(devices.c.status != DeviceStatus.DECOMMISSIONED.value)
    if f.search and f.search.strip():
        stmt = stmt.where(devices.c.external_name.ilike(contains_pattern(f.search), escape="\\"))
    if f.unassigned is True:
        stmt = stmt.where(sa.or_(devices.c.store_id.is_(None), devices.c.group_id.is_(None)))
    elif f.unassigned is False:
        stmt = stmt.where(devices.c.store_id.is_not(None), devices.c.group_id.is_not(None))
    if f.sync_states:
        stmt = stmt.where(devices.c.sync_state.in_([state.value for state in f.sync_states]))
    if f.in_sync is True:
        stmt = stmt.where(devices.c.sync_state == SyncState.IN_SYNC.value)
    elif f.in_sync is False:
        # Spelled as the partial index's predicate, so the (usually few) devices out of sync
        # are read from it.
        stmt = stmt.where(devices.c.sync_state != SyncState.IN_SYNC.value)
    return stmt


def stores_query(*, search: str | None = None, city: str | None = None) -> sa.Select[Any]:
    stmt = sa.select(stores, STORE_SORT_NAME)
    if search and search.strip():
        pattern = contains_pattern(search)
        stmt = stmt.where(
            sa.or_(
                stores.c.name.ilike(pattern, escape="\\"),
                stores.c.city.ilike(pattern, escape="\\"),
                stores.c.area.ilike(pattern, escape="\\"),
            )
        )
    if city and city.strip():
        stmt = stmt.where(sa.func.lower(stores.c.city) == city.strip().lower())
    return stmt


def groups_query(*, search: str | None = None) -> sa.Select[Any]:
    stmt = sa.select(device_groups, GROUP_SORT_NAME)
    if search and search.strip():
        stmt = stmt.where(device_groups.c.name.ilike(contains_pattern(search), escape="\\"))
    return stmt
