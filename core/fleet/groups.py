"""Device groups and their policy: create, update and delete, each audited.

Group names are unique. A group that devices belong to or schedules target cannot be deleted,
so no schedule is left pointing at nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import PlanChangeKind, TargetType
from core.db.rows import get_by_id
from core.db.tables import device_groups, devices, playlists, schedules
from core.errors import Conflict
from core.fleet.policy import GroupPolicy, validate_policy
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.validation import FieldErrors, clean_text

GROUP_FIELDS = frozenset(
    {
        "name",
        "heartbeat_interval_seconds",
        "offline_threshold_seconds",
        "storage_cap_bytes",
        "default_playlist_id",
    }
)
POLICY_FIELDS = ("heartbeat_interval_seconds", "offline_threshold_seconds", "storage_cap_bytes")


async def _validate_group(
    conn: AsyncConnection,
    values: Mapping[str, Any],
    *,
    current: Row[Any] | None,
) -> dict[str, Any]:
    errors = FieldErrors()
    for unknown in sorted(set(values) - GROUP_FIELDS):
        errors.add(unknown, "invalid", "unknown field")
    columns: dict[str, Any] = {}
    if current is None or "name" in values:
        columns["name"] = clean_text(errors, "name", values.get("name"), required=True)
    policy_args = {name: values[name] for name in POLICY_FIELDS if name in values}
    if current is None or policy_args:
        existing = GroupPolicy.from_json(current.policy_json) if current is not None else None
        policy = validate_policy(errors, current=existing, **policy_args)
        columns["policy_json"] = policy.to_json()
    if "default_playlist_id" in values:
        playlist_id = values["default_playlist_id"]
        if playlist_id is not None:
            found = (
                await conn.execute(
                    sa.select(playlists.c.id)
                    .where(playlists.c.id == playlist_id)
                    .with_for_update(key_share=True)
                )
            ).scalar_one_or_none()
            if found is None:
                errors.add("default_playlist_id", "not_found", "no such playlist")
        columns["default_playlist_id"] = playlist_id
    errors.raise_if_any("the group is not valid")
    return columns


def _duplicate_name() -> Conflict:
    return Conflict("a group with this name exists", field="name", details={"code": "duplicate"})


async def create_group(services: Services, actor: Actor, values: Mapping[str, Any]) -> Row[Any]:
    actor.require(Permission.MANAGE_FLEET)
    now = services.clock.now()
    async with services.uow() as uow:
        columns = await _validate_group(uow.conn, values, current=None)
        row = (
            await uow.conn.execute(
                pg_insert(device_groups)
                .values(**columns, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=[device_groups.c.name])
                .returning(*device_groups.c)
            )
        ).one_or_none()
        if row is None:
            raise _duplicate_name()
        await record(
            uow.conn, actor, action="group.create", target_type="group", target_id=row.id, after=row
        )
        await uow.commit()
    return row


async def update_group(
    services: Services, actor: Actor, group_id: uuid.UUID, values: Mapping[str, Any]
) -> Row[Any]:
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        before = await get_by_id(uow.conn, device_groups, group_id, what="group", lock=True)
        columns = await _validate_group(uow.conn, values, current=before)
        try:
            after = (
                await uow.conn.execute(
                    sa.update(device_groups)
                    .where(device_groups.c.id == group_id)
                    .values(**columns, updated_at=services.clock.now())
                    .returning(*device_groups.c)
                )
            ).one()
        except sa.exc.IntegrityError as exc:  # the unique name, taken by another group
            raise _duplicate_name() from exc
        await record(
            uow.conn,
            actor,
            action="group.update",
            target_type="group",
            target_id=group_id,
            before=before,
            after=after,
        )
        if (before.default_playlist_id, before.policy_json) != (
            after.default_playlist_id,
            after.policy_json,
        ):
            await notify_plan_inputs_changed(uow, services, PlanChangeKind.GROUP, [group_id])
        await uow.commit()
    return after


async def delete_group(services: Services, actor: Actor, group_id: uuid.UUID) -> Row[Any]:
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        before = await get_by_id(uow.conn, device_groups, group_id, what="group", lock=True)
        device_count = (
            await uow.conn.execute(sa.select(sa.func.count()).where(devices.c.group_id == group_id))
        ).scalar_one()
        schedule_count = (
            await uow.conn.execute(
                sa.select(sa.func.count()).where(
                    schedules.c.target_type == TargetType.GROUP.value,
                    schedules.c.target_id == group_id,
                )
            )
        ).scalar_one()
        if device_count or schedule_count:
            raise Conflict(
                f"the group has {device_count} device(s) and {schedule_count} schedule(s); "
                "move or delete them first",
                field="id",
                details={"code": "in_use"},
            )
        await uow.conn.execute(sa.delete(device_groups).where(device_groups.c.id == group_id))
        await record(
            uow.conn,
            actor,
            action="group.delete",
            target_type="group",
            target_id=group_id,
            before=before,
        )
        await uow.commit()
    return before
