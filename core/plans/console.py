"""What the console asks about plans: the stored plan, a preview over any range, and why.

Previews and explanations are computed on the fly with the same loader and engine as the
stored plans (never stored, never cached in Redis), so what the console shows is exactly
what the devices would get for that range.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.bootstrap import Services
from core.db.enums import DeviceStatus
from core.db.tables import device_groups, devices, stores
from core.errors import NotFound, ValidationFailed
from core.plans.loader import (
    DEFAULT_TIMEZONE,
    load_plan_inputs,
    load_playlists,
    load_schedules,
    native_or_none,
)
from core.plans.service import StoredPlan, stored_plan
from core.scheduling import (
    DeviceContext,
    Explanation,
    Horizon,
    PlanInputs,
    build_plan,
    etag_for,
    explain,
    validate_timezone,
)

MAX_PREVIEW = timedelta(days=31)
# `explain` needs no horizon, but PlanInputs carries one: a tick around the instant.
_TICK = timedelta(seconds=1)


@dataclass(frozen=True)
class Preview:
    """What plays over [start, end) in one store timezone, for `device_count` devices."""

    timezone: str
    device_count: int
    etag: str
    plan: dict[str, Any]


async def load_group_inputs(
    conn: AsyncConnection,
    group_id: uuid.UUID,
    horizon: Horizon,
    *,
    timezone: str | None = None,
) -> list[tuple[PlanInputs, int]]:
    """What a group plays, without any device's own schedules: one `PlanInputs` per store
    timezone among the group's active devices (a "09:00" daypart means 09:00 at each store),
    with how many devices are in that timezone. A group without devices is previewed in
    `timezone` (default UTC)."""
    group = (
        await conn.execute(
            sa.select(device_groups.c.default_playlist_id).where(device_groups.c.id == group_id)
        )
    ).one_or_none()
    if group is None:
        return []
    zones = (
        await conn.execute(
            sa.select(
                sa.func.coalesce(stores.c.timezone, DEFAULT_TIMEZONE).label("tz"), sa.func.count()
            )
            .select_from(devices.outerjoin(stores, stores.c.id == devices.c.store_id))
            .where(
                devices.c.group_id == group_id,
                devices.c.status != DeviceStatus.DECOMMISSIONED.value,
            )
            .group_by(sa.text("tz"))
            .order_by(sa.text("tz"))
        )
    ).all()
    counts = [(row.tz, int(row[1])) for row in zones] or [(timezone or DEFAULT_TIMEZONE, 0)]
    if timezone is not None:
        counts = [(tz, n) for tz, n in counts if tz == timezone] or [(timezone, 0)]
    targeted = await load_schedules(conn, device_ids=[], group_ids=[group_id], window=horizon)
    wanted = {t.schedule.playlist_id for t in targeted}
    default_playlist_id = native_or_none(group.default_playlist_id)
    if default_playlist_id is not None:
        wanted.add(default_playlist_id)
    playlists_by_id = await load_playlists(conn, wanted)
    result: list[tuple[PlanInputs, int]] = []
    for tz, count in counts:
        inputs = PlanInputs(
            device=DeviceContext(
                device_id=uuid.UUID(int=0),
                group_id=group_id,
                store_timezone=tz,
                default_playlist_id=default_playlist_id,
            ),
            schedules=tuple(t.schedule for t in targeted),
            playlists=tuple(playlists_by_id.values()),
            horizon=horizon,
        )
        result.append((inputs, count))
    return result


def _check_range(start: datetime, end: datetime) -> Horizon:
    errors: list[dict[str, Any]] = []
    if start.tzinfo is None:
        errors.append({"field": "from", "code": "invalid", "message": "from needs a UTC offset"})
    if end.tzinfo is None:
        errors.append({"field": "to", "code": "invalid", "message": "to needs a UTC offset"})
    if errors:
        raise ValidationFailed(errors[0]["message"], field=errors[0]["field"], errors=errors)
    if not start < end:
        message = "to must be after from"
        raise ValidationFailed(
            message,
            field="to",
            errors=[{"field": "to", "code": "invalid_date_range", "message": message}],
        )
    if end - start > MAX_PREVIEW:
        message = f"a preview covers at most {MAX_PREVIEW.days} days"
        raise ValidationFailed(
            message,
            field="to",
            errors=[{"field": "to", "code": "out_of_range", "message": message}],
        )
    # Whole seconds: the plan's boundaries are written with second precision.
    return Horizon(
        start.astimezone(UTC).replace(microsecond=0), end.astimezone(UTC).replace(microsecond=0)
    )


async def device_plan(services: Services, device_id: uuid.UUID) -> StoredPlan | None:
    async with services.engine.connect() as conn:
        return await stored_plan(conn, device_id)


async def _device_inputs(
    services: Services, device_id: uuid.UUID, horizon: Horizon, *, all_schedules: bool
) -> PlanInputs:
    async with services.engine.connect() as conn:
        shared = await load_plan_inputs(conn, [device_id], horizon, all_schedules=all_schedules)
    if not shared:
        raise NotFound("device not found or decommissioned", field="deviceId")
    return shared[0].inputs


def _preview(inputs: PlanInputs, device_count: int) -> Preview:
    plan = build_plan(inputs)
    return Preview(inputs.device.store_timezone, device_count, etag_for(plan), plan)


async def preview_device(
    services: Services, device_id: uuid.UUID, start: datetime, end: datetime
) -> Preview:
    inputs = await _device_inputs(
        services, device_id, _check_range(start, end), all_schedules=False
    )
    return _preview(inputs, 1)


async def preview_group(
    services: Services,
    group_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    timezone: str | None = None,
) -> list[Preview]:
    """One preview per store timezone among the group's devices (group schedules and the
    default playlist only: devices' own schedules are per device)."""
    horizon = _check_range(start, end)
    if timezone is not None:
        validate_timezone(timezone, field="timezone")
    async with services.engine.connect() as conn:
        found = await load_group_inputs(conn, group_id, horizon, timezone=timezone)
    if not found:
        raise NotFound("group not found", field="groupId")
    return [_preview(inputs, count) for inputs, count in found]


async def explain_device(services: Services, device_id: uuid.UUID, at: datetime) -> Explanation:
    """Every schedule targeting the device or its group (disabled and out-of-dates ones
    included) and why it plays at `at` or not."""
    if at.tzinfo is None:
        message = "at needs a UTC offset"
        raise ValidationFailed(
            message, field="at", errors=[{"field": "at", "code": "invalid", "message": message}]
        )
    at = at.astimezone(UTC)
    inputs = await _device_inputs(
        services, device_id, Horizon(at - _TICK, at + _TICK), all_schedules=True
    )
    return explain(inputs, at)
