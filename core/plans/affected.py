"""Which devices a change touches, and which plans need their horizon rolled.

Each kind of change maps to schedules and group default playlists, and those to devices, in
ONE query: a change for a group of 100,000 devices is one indexed scan, never a loop. The
kinds are those `core.plans.changes.notify_plan_inputs_changed` announces, plus the
fleet's own ("device" placement, "group" default playlist, "store" timezone).

Deleted rows cannot be followed anymore, which is why the announcers also name what a
deleted schedule targeted ("device"/"group" ids) before the row disappears.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.enums import DeviceStatus, PlanChangeKind, TargetType
from core.db.tables import (
    content_versions,
    device_groups,
    devices,
    playlist_items,
    playlists,
    playout_plans,
    schedules,
)
from core.plans.loader import any_of, native
from core.scheduling import horizon_for


class UnknownChangeKind(ValueError):
    pass


def parse_kind(kind: str) -> PlanChangeKind:
    try:
        return PlanChangeKind(kind)
    except ValueError:
        raise UnknownChangeKind(f"unknown plan-input change kind {kind!r}") from None


def _playlists_with_content(ids: Collection[uuid.UUID]) -> sa.Select[Any]:
    """Playlists following the latest version of these contents (pinned items do not change
    when a new version arrives)."""
    return sa.select(playlist_items.c.playlist_id).where(
        playlist_items.c.content_version_id.is_(None),
        any_of(playlist_items.c.content_id, ids),
    )


def _playlists_with_versions(ids: Collection[uuid.UUID]) -> sa.Select[Any]:
    """Playlists pinning these versions, or following the latest version of their content."""
    of_content = sa.select(content_versions.c.content_id).where(any_of(content_versions.c.id, ids))
    return sa.select(playlist_items.c.playlist_id).where(
        sa.or_(
            any_of(playlist_items.c.content_version_id, ids),
            sa.and_(
                playlist_items.c.content_version_id.is_(None),
                playlist_items.c.content_id.in_(of_content),
            ),
        )
    )


def _schedule_and_playlist_filters(
    kind: PlanChangeKind, ids: Collection[uuid.UUID]
) -> tuple[sa.ColumnElement[bool] | None, sa.ColumnElement[bool] | None]:
    """(which schedules, which group default playlists) a change of `kind` reaches."""
    if kind is PlanChangeKind.SCHEDULE:
        return any_of(schedules.c.id, ids), None
    if kind is PlanChangeKind.CAMPAIGN:
        in_campaign = sa.select(playlists.c.id).where(any_of(playlists.c.campaign_id, ids))
        return (
            sa.or_(any_of(schedules.c.campaign_id, ids), schedules.c.playlist_id.in_(in_campaign)),
            device_groups.c.default_playlist_id.in_(in_campaign),
        )
    if kind is PlanChangeKind.PLAYLIST:
        return (
            any_of(schedules.c.playlist_id, ids),
            any_of(device_groups.c.default_playlist_id, ids),
        )
    if kind in (PlanChangeKind.CONTENT, PlanChangeKind.CONTENT_VERSION):
        used = (
            _playlists_with_content(ids)
            if kind is PlanChangeKind.CONTENT
            else _playlists_with_versions(ids)
        )
        return schedules.c.playlist_id.in_(used), device_groups.c.default_playlist_id.in_(used)
    raise AssertionError(kind)


def _device_filter(kind: PlanChangeKind, ids: Collection[uuid.UUID]) -> sa.ColumnElement[bool]:
    if kind is PlanChangeKind.DEVICE:
        return any_of(devices.c.id, ids)
    if kind is PlanChangeKind.GROUP:
        return any_of(devices.c.group_id, ids)
    if kind is PlanChangeKind.STORE:
        return any_of(devices.c.store_id, ids)
    schedule_filter, default_filter = _schedule_and_playlist_filters(kind, ids)
    reached: list[sa.ColumnElement[bool]] = []
    if schedule_filter is not None:
        targets = sa.select(schedules.c.target_id).where(schedule_filter)
        reached.append(
            devices.c.id.in_(targets.where(schedules.c.target_type == TargetType.DEVICE.value))
        )
        reached.append(
            devices.c.group_id.in_(targets.where(schedules.c.target_type == TargetType.GROUP.value))
        )
    if default_filter is not None:
        reached.append(devices.c.group_id.in_(sa.select(device_groups.c.id).where(default_filter)))
    return sa.or_(*reached)


async def affected_devices(
    conn: AsyncConnection, kind: str, ids: Collection[uuid.UUID]
) -> list[uuid.UUID]:
    """Active devices whose plan inputs a change of `kind` to `ids` may alter, sorted."""
    change = parse_kind(kind)
    if not ids:
        return []
    stmt = (
        sa.select(devices.c.id)
        .where(
            _device_filter(change, set(ids)),
            devices.c.status != DeviceStatus.DECOMMISSIONED.value,
        )
        .order_by(devices.c.id)
    )
    return [native(value) for value in (await conn.execute(stmt)).scalars()]


async def devices_needing_roll(conn: AsyncConnection, now: datetime) -> list[uuid.UUID]:
    """Devices whose stored plan was made for an earlier horizon boundary than `now`'s.

    Right after a boundary these still cover 72 h plus the grace (horizon.GRACE), which is
    the time the periodic job has to roll them before the edge would regenerate on demand.
    """
    current_end = horizon_for(now).end
    stmt = (
        sa.select(playout_plans.c.device_id)
        .where(playout_plans.c.valid_to < current_end)
        .order_by(playout_plans.c.device_id)
    )
    return [native(value) for value in (await conn.execute(stmt)).scalars()]
