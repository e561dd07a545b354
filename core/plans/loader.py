"""Set-based loading of plan inputs: database rows -> `core.scheduling` dataclasses.

Why set-based: a schedule change for a group reaches thousands of devices, and one query per
device would make regeneration cost O(devices) round trips. Here a whole batch costs four
queries (devices, schedules, playlists, items), whatever its size.

Why devices are folded into `SharedInputs`: every device of a group with the same store
timezone and no device-targeted schedule has the very same inputs. Building one `PlanInputs`
per such signature (not per device) means 100,000 devices of one group cost one hash and one
engine computation, not 100,000. `PlanInputs.device.device_id` is then a representative (the
smallest id); the engine never reads it, and `inputs_hash` leaves it out on purpose.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.enums import DeviceStatus, TargetType
from core.db.tables import (
    campaigns,
    content_versions,
    device_groups,
    devices,
    playlist_items,
    playlists,
    schedules,
    stores,
)
from core.errors import DomainError
from core.scheduling import (
    DeviceContext,
    Horizon,
    PlanInputs,
    PlanItem,
    PlaylistInput,
    ScheduleInput,
    parse_rules,
)

log = structlog.get_logger(__name__)

DEFAULT_TIMEZONE = "UTC"
# Schedule and campaign dates are local dates: any zone is within a day of UTC.
_DATE_SLACK = timedelta(days=1)


def any_of(column: sa.ColumnElement[Any], values: Iterable[uuid.UUID]) -> sa.ColumnElement[bool]:
    """`column = ANY($1::uuid[])`: one bind parameter however many ids (IN would need one
    parameter per id, and asyncpg stops at 32,767)."""
    return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(UUID(as_uuid=True))))


def native(value: Any) -> uuid.UUID:
    """asyncpg returns its own UUID subclass, which orjson (hence every engine hash) refuses:
    ids entering the engine are converted to plain `uuid.UUID`."""
    return value if type(value) is uuid.UUID else uuid.UUID(int=value.int)


def native_or_none(value: Any) -> uuid.UUID | None:
    return None if value is None else native(value)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: uuid.UUID
    group_id: uuid.UUID | None
    store_id: uuid.UUID | None
    store_timezone: str
    default_playlist_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class TargetedSchedule:
    schedule: ScheduleInput
    target_type: TargetType
    target_id: uuid.UUID


@dataclass
class SharedInputs:
    """One `PlanInputs` and every device it stands for."""

    inputs: PlanInputs
    device_ids: list[uuid.UUID] = field(default_factory=list)

    def inputs_hash(self) -> str:
        return self.inputs.inputs_hash()


async def load_devices(conn: AsyncConnection, device_ids: Collection[uuid.UUID]) -> list[DeviceRow]:
    """Active devices among `device_ids` with their placement (unknown or decommissioned ids
    are simply absent)."""
    if not device_ids:
        return []
    stmt = (
        sa.select(
            devices.c.id,
            devices.c.group_id,
            devices.c.store_id,
            stores.c.timezone,
            device_groups.c.default_playlist_id,
        )
        .select_from(
            devices.outerjoin(stores, stores.c.id == devices.c.store_id).outerjoin(
                device_groups, device_groups.c.id == devices.c.group_id
            )
        )
        .where(
            any_of(devices.c.id, device_ids),
            devices.c.status != DeviceStatus.DECOMMISSIONED.value,
        )
        .order_by(devices.c.id)
    )
    rows = (await conn.execute(stmt)).all()
    # Device, group and store ids never enter a hash, so they keep asyncpg's UUID type (equal
    # and hash-equal to uuid.UUID); the few distinct default playlist ids are converted once.
    defaults: dict[Any, uuid.UUID | None] = {None: None}
    found: list[DeviceRow] = []
    for row in rows:
        default = row.default_playlist_id
        if default not in defaults:
            defaults[default] = native(default)
        found.append(
            DeviceRow(
                device_id=row.id,
                group_id=row.group_id,
                store_id=row.store_id,
                store_timezone=row.timezone or DEFAULT_TIMEZONE,
                default_playlist_id=defaults[default],
            )
        )
    return found


def _dates_overlap(
    first: sa.ColumnElement[Any], last: sa.ColumnElement[Any], window: Horizon
) -> sa.ColumnElement[bool]:
    """Local dates [first, last] (NULL = open) can touch the UTC window."""
    lo = (window.start - _DATE_SLACK).date()
    hi = (window.end + _DATE_SLACK).date()
    return sa.and_(sa.or_(last.is_(None), last >= lo), sa.or_(first.is_(None), first <= hi))


async def load_schedules(
    conn: AsyncConnection,
    *,
    device_ids: Collection[uuid.UUID],
    group_ids: Collection[uuid.UUID],
    window: Horizon | None,
    include_disabled: bool = False,
) -> list[TargetedSchedule]:
    """Schedules targeting any of the devices or groups.

    With a `window`, only enabled schedules whose validity and campaign dates can touch it
    (what a plan needs); with `window=None` and `include_disabled`, every schedule (what
    `explain` needs to say why a schedule does NOT play). The campaign is the schedule's own,
    else its playlist's, for both the dates that bound it and play attribution.
    """
    if not device_ids and not group_ids:
        return []
    campaign_id = sa.func.coalesce(
        schedules.c.campaign_id, playlists.c.campaign_id, type_=UUID(as_uuid=True)
    )
    conditions: list[sa.ColumnElement[bool]] = [
        sa.or_(
            sa.and_(
                schedules.c.target_type == TargetType.DEVICE.value,
                any_of(schedules.c.target_id, device_ids),
            ),
            sa.and_(
                schedules.c.target_type == TargetType.GROUP.value,
                any_of(schedules.c.target_id, group_ids),
            ),
        )
    ]
    if not include_disabled:
        conditions.append(schedules.c.enabled.is_(True))
    if window is not None:
        conditions.append(_dates_overlap(schedules.c.valid_from, schedules.c.valid_to, window))
        conditions.append(_dates_overlap(campaigns.c.start_date, campaigns.c.end_date, window))
    stmt = (
        sa.select(
            schedules.c.id,
            schedules.c.target_type,
            schedules.c.target_id,
            schedules.c.playlist_id,
            schedules.c.priority,
            schedules.c.timezone,
            schedules.c.rules_json,
            schedules.c.valid_from,
            schedules.c.valid_to,
            schedules.c.enabled,
            campaign_id.label("campaign_id"),
            campaigns.c.start_date,
            campaigns.c.end_date,
        )
        .select_from(
            schedules.join(playlists, playlists.c.id == schedules.c.playlist_id).outerjoin(
                campaigns, campaigns.c.id == campaign_id
            )
        )
        .where(*conditions)
        .order_by(schedules.c.id)
    )
    found: list[TargetedSchedule] = []
    for row in (await conn.execute(stmt)).all():
        try:
            rules = parse_rules(row.rules_json)
        except DomainError:
            # Writes validate rules, so this is a corrupt row: one bad schedule must not stop
            # every plan of the batch. It is logged and left out.
            log.error("schedule with invalid rules skipped", schedule_id=str(row.id))
            continue
        target_type = TargetType(row.target_type)
        schedule = ScheduleInput(
            id=native(row.id),
            target_type=target_type,
            priority=row.priority,
            playlist_id=native(row.playlist_id),
            rules=rules,
            campaign_id=native_or_none(row.campaign_id),
            timezone=row.timezone,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            campaign_start=row.start_date,
            campaign_end=row.end_date,
            enabled=row.enabled,
        )
        found.append(TargetedSchedule(schedule, target_type, native(row.target_id)))
    return found


def _items_query(playlist_ids: Collection[uuid.UUID]) -> sa.Select[Any]:
    """Items with their content version resolved: the pinned one, else the content's latest
    (highest version_number, via the unique (content_id, version_number) index). Items whose
    content has no version yet are left out: there is nothing to play."""
    latest = content_versions.alias("latest")
    latest_id = (
        sa.select(latest.c.id)
        .where(latest.c.content_id == playlist_items.c.content_id)
        .order_by(latest.c.version_number.desc())
        .limit(1)
        .scalar_subquery()
    )
    version_id = sa.func.coalesce(playlist_items.c.content_version_id, latest_id)
    return (
        sa.select(
            playlist_items.c.id,
            playlist_items.c.playlist_id,
            playlist_items.c.content_id,
            playlist_items.c.order_index,
            playlist_items.c.weight,
            sa.func.coalesce(playlist_items.c.duration_ms, content_versions.c.duration_ms).label(
                "duration_ms"
            ),
            content_versions.c.version_number,
            content_versions.c.url,
            content_versions.c.sha256,
            content_versions.c.bytes,
            content_versions.c.mime,
        )
        .select_from(playlist_items.join(content_versions, content_versions.c.id == version_id))
        .where(any_of(playlist_items.c.playlist_id, playlist_ids))
    )


async def load_playlists(
    conn: AsyncConnection, playlist_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, PlaylistInput]:
    """Each playlist once, shared by every device that uses it (so its digest is computed
    once per batch)."""
    if not playlist_ids:
        return {}
    heads = (
        await conn.execute(
            sa.select(playlists.c.id, playlists.c.campaign_id).where(
                any_of(playlists.c.id, playlist_ids)
            )
        )
    ).all()
    items: dict[uuid.UUID, list[PlanItem]] = defaultdict(list)
    for row in (await conn.execute(_items_query(playlist_ids))).all():
        items[native(row.playlist_id)].append(
            PlanItem(
                item_id=native(row.id),
                position=row.order_index,
                content_id=native(row.content_id),
                version=row.version_number,
                url=row.url,
                sha256=row.sha256,
                bytes=row.bytes,
                mime=row.mime,
                duration_ms=row.duration_ms,
                weight=row.weight,
            )
        )
    return {
        playlist.id: playlist
        for playlist in (
            PlaylistInput(
                id=native(row.id),
                campaign_id=native_or_none(row.campaign_id),
                items=tuple(items.get(native(row.id), ())),
            )
            for row in heads
        )
    }


def _signature(
    device: DeviceRow, own: Sequence[ScheduleInput]
) -> tuple[uuid.UUID | None, str, uuid.UUID | None, tuple[uuid.UUID, ...]]:
    return (
        device.group_id,
        device.store_timezone,
        device.default_playlist_id,
        tuple(s.id for s in own),
    )


def assemble(
    device_rows: Sequence[DeviceRow],
    targeted: Sequence[TargetedSchedule],
    playlists_by_id: dict[uuid.UUID, PlaylistInput],
    horizon: Horizon,
) -> list[SharedInputs]:
    """Fold devices with the same group, store timezone, default playlist and own schedules
    into one `SharedInputs`. Pure: the DB work is done by the callers."""
    by_device: dict[uuid.UUID, list[ScheduleInput]] = defaultdict(list)
    by_group: dict[uuid.UUID, list[ScheduleInput]] = defaultdict(list)
    for entry in targeted:
        bucket = by_device if entry.target_type is TargetType.DEVICE else by_group
        bucket[entry.target_id].append(entry.schedule)
    shared: dict[tuple[object, ...], SharedInputs] = {}
    for device in sorted(device_rows, key=lambda d: d.device_id):
        own = by_device.get(device.device_id, [])
        key = _signature(device, own)
        entry_ = shared.get(key)
        if entry_ is None:
            group = by_group.get(device.group_id, []) if device.group_id is not None else []
            candidates = (*own, *group)
            wanted = {s.playlist_id for s in candidates}
            if device.default_playlist_id is not None:
                wanted.add(device.default_playlist_id)
            inputs = PlanInputs(
                device=DeviceContext(
                    device_id=device.device_id,
                    group_id=device.group_id,
                    store_timezone=device.store_timezone,
                    default_playlist_id=device.default_playlist_id,
                ),
                schedules=candidates,
                playlists=tuple(playlists_by_id[p] for p in sorted(wanted) if p in playlists_by_id),
                horizon=horizon,
            )
            entry_ = shared[key] = SharedInputs(inputs)
        entry_.device_ids.append(device.device_id)
    return list(shared.values())


async def load_plan_inputs(
    conn: AsyncConnection,
    device_ids: Collection[uuid.UUID],
    horizon: Horizon,
    *,
    all_schedules: bool = False,
) -> list[SharedInputs]:
    """The inputs of every active device among `device_ids`, folded by signature.

    `all_schedules` keeps disabled schedules and ignores dates (for `explain`); otherwise
    only schedules that can play within `horizon` are loaded.
    """
    device_rows = await load_devices(conn, set(device_ids))
    if not device_rows:
        return []
    targeted = await load_schedules(
        conn,
        device_ids=[d.device_id for d in device_rows],
        group_ids={d.group_id for d in device_rows if d.group_id is not None},
        window=None if all_schedules else horizon,
        include_disabled=all_schedules,
    )
    wanted = {t.schedule.playlist_id for t in targeted}
    wanted.update(d.default_playlist_id for d in device_rows if d.default_playlist_id)
    playlists_by_id = await load_playlists(conn, wanted)
    return assemble(device_rows, targeted, playlists_by_id, horizon)
