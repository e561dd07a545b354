"""Schedule use cases: create, replace, enable/disable, delete, and the listing.

Each change announces the schedule and the targets it reaches (old and new), so the planner
knows which devices to recompute even after the schedule row is gone.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.audit.writes import insert_audited, update_audited
from core.bootstrap import Services
from core.db.enums import PlanChangeKind, TargetType
from core.db.rows import get_by_id
from core.db.tables import schedules
from core.db.uow import UnitOfWork
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.schedules.models import Schedule, ScheduleFilter, ScheduleInput
from core.schedules.validation import check_references, validated_values


async def _announce(services: Services, uow: UnitOfWork, affected: Iterable[Schedule]) -> None:
    by_kind: dict[PlanChangeKind, set[uuid.UUID]] = {
        PlanChangeKind.SCHEDULE: set(),
        PlanChangeKind.DEVICE: set(),
        PlanChangeKind.GROUP: set(),
    }
    for schedule in affected:
        by_kind[PlanChangeKind.SCHEDULE].add(schedule.id)
        target_kind = (
            PlanChangeKind.DEVICE
            if schedule.target_type is TargetType.DEVICE
            else PlanChangeKind.GROUP
        )
        by_kind[target_kind].add(schedule.target_id)
    for kind, ids in by_kind.items():
        if ids:
            await notify_plan_inputs_changed(uow, services, kind, sorted(ids))


async def _locked(conn: AsyncConnection, schedule_id: uuid.UUID) -> Schedule:
    row = await get_by_id(conn, schedules, schedule_id, what="schedule", lock=True)
    return Schedule.from_row(row)


async def create_schedule(services: Services, actor: Actor, data: ScheduleInput) -> Schedule:
    actor.require(Permission.MANAGE_FLEET)
    values = validated_values(data)
    now = services.clock.now()
    async with services.uow() as uow:
        await check_references(uow.conn, values)
        created = await insert_audited(
            uow.conn,
            actor,
            schedules,
            values,
            at=now,
            build=Schedule.from_row,
            target_type="schedule",
        )
        await _announce(services, uow, [created])
        await uow.commit()
    return created


async def update_schedule(
    services: Services, actor: Actor, schedule_id: uuid.UUID, data: ScheduleInput
) -> Schedule:
    actor.require(Permission.MANAGE_FLEET)
    values = validated_values(data)
    async with services.uow() as uow:
        before = await _locked(uow.conn, schedule_id)
        await check_references(uow.conn, values)
        after = await update_audited(
            uow.conn,
            actor,
            schedules,
            before,
            values,
            at=services.clock.now(),
            build=Schedule.from_row,
            target_type="schedule",
        )
        await _announce(services, uow, [before, after])
        await uow.commit()
    return after


async def set_schedule_enabled(
    services: Services, actor: Actor, schedule_id: uuid.UUID, *, enabled: bool
) -> Schedule:
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        before = await _locked(uow.conn, schedule_id)
        after = await _write(services, uow, schedule_id, {"enabled": enabled})
        await record(
            uow.conn,
            actor,
            action="schedule.enable" if enabled else "schedule.disable",
            target_type="schedule",
            target_id=schedule_id,
            before={"enabled": before.enabled},
            after={"enabled": after.enabled},
        )
        if before.enabled != after.enabled:
            await _announce(services, uow, [after])
        await uow.commit()
    return after


async def delete_schedule(services: Services, actor: Actor, schedule_id: uuid.UUID) -> Schedule:
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        before = await _locked(uow.conn, schedule_id)
        await uow.conn.execute(sa.delete(schedules).where(schedules.c.id == schedule_id))
        await record(
            uow.conn,
            actor,
            action="schedule.delete",
            target_type="schedule",
            target_id=schedule_id,
            before=dataclasses.asdict(before),
        )
        await _announce(services, uow, [before])
        await uow.commit()
    return before


async def _write(
    services: Services, uow: UnitOfWork, schedule_id: uuid.UUID, values: dict[str, object]
) -> Schedule:
    row = (
        await uow.conn.execute(
            sa.update(schedules)
            .where(schedules.c.id == schedule_id)
            .values(**values, updated_at=services.clock.now())
            .returning(schedules)
        )
    ).one()
    return Schedule.from_row(row)


async def get_schedule(conn: AsyncConnection, schedule_id: uuid.UUID) -> Schedule:
    return Schedule.from_row(await get_by_id(conn, schedules, schedule_id, what="schedule"))


SCHEDULE_SORT_NAME = sa.func.lower(schedules.c.name).label("sort_name")


def schedules_query(flt: ScheduleFilter) -> sa.Select[Any]:
    """Schedules matching `flt` with their `sort_name`, unordered: the caller pages it."""
    query = sa.select(schedules, SCHEDULE_SORT_NAME)
    if flt.target_type is not None:
        query = query.where(schedules.c.target_type == flt.target_type.value)
    if flt.target_id is not None:
        query = query.where(schedules.c.target_id == flt.target_id)
    if flt.playlist_id is not None:
        query = query.where(schedules.c.playlist_id == flt.playlist_id)
    if flt.campaign_id is not None:
        query = query.where(schedules.c.campaign_id == flt.campaign_id)
    if flt.enabled is not None:
        query = query.where(schedules.c.enabled == flt.enabled)
    return query
