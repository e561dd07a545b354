"""Console-side device changes: rename, assign to a store and group, decommission.

Devices are created by pairing. Assigning many devices is one set-based UPDATE plus one
multi-row audit INSERT, whatever the number of devices. Every change that alters what a device
should play announces itself on the plan-inputs channel after COMMIT.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import AuditEntry, record, record_many
from core.bootstrap import Services
from core.db.enums import DeviceStatus, PlanChangeKind
from core.db.tables import device_groups, device_status_transitions, devices, stores
from core.devices.status_events import DeviceStatusEvent, publish_status_events
from core.devices.token_epoch import revoke_device_tokens
from core.errors import Conflict, NotFound
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.validation import FieldErrors, clean_text

MAX_BULK_DEVICES = 500
ASSIGN_FIELDS = frozenset({"store_id", "group_id"})


async def _lock_devices(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
    return list(
        (
            await conn.execute(
                sa.select(devices)
                .where(devices.c.id.in_(ids))
                .order_by(devices.c.id)
                .with_for_update()
            )
        ).all()
    )


async def _check_targets(
    conn: AsyncConnection, values: Mapping[str, Any], errors: FieldErrors
) -> None:
    """The store and group exist, and stay until COMMIT (FOR KEY SHARE blocks deletion)."""
    for field, table in (("store_id", stores), ("group_id", device_groups)):
        target = values.get(field)
        if target is None:
            continue
        found = (
            await conn.execute(
                sa.select(table.c.id).where(table.c.id == target).with_for_update(key_share=True)
            )
        ).scalar_one_or_none()
        if found is None:
            errors.add(field, "not_found", f"no such {'store' if table is stores else 'group'}")


async def _audit_many(
    conn: AsyncConnection,
    actor: Actor,
    action: str,
    before: Sequence[Row[Any]],
    after: Sequence[Row[Any]],
) -> None:
    after_by_id = {row.id: row for row in after}
    entries = [AuditEntry(row.id, before=row, after=after_by_id[row.id]) for row in before]
    await record_many(conn, actor, action=action, target_type="device", entries=entries)


async def rename_device(
    services: Services, actor: Actor, device_id: uuid.UUID, name: str | None
) -> Row[Any]:
    """Set the device's display name; an empty or null name clears it."""
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    clean = clean_text(errors, "name", name, required=False)
    errors.raise_if_any("the name is not valid")
    async with services.uow() as uow:
        locked = await _lock_devices(uow.conn, [device_id])
        if not locked:
            raise NotFound("device not found", field="id")
        after = (
            await uow.conn.execute(
                sa.update(devices)
                .where(devices.c.id == device_id)
                .values(external_name=clean, updated_at=services.clock.now())
                .returning(*devices.c)
            )
        ).one()
        await record(
            uow.conn,
            actor,
            action="device.rename",
            target_type="device",
            target_id=device_id,
            before={"name": locked[0].external_name},
            after={"name": after.external_name},
        )
        await uow.commit()
    return after


async def assign_devices(
    services: Services,
    actor: Actor,
    device_ids: Sequence[uuid.UUID],
    values: Mapping[str, Any],
    *,
    id_field: Callable[[int], str] = lambda position: f"device_ids[{position}]",
) -> list[Row[Any]]:
    """Move devices to a store and/or group (a None value unassigns), all or none.

    `values` holds only the fields to change (`store_id`, `group_id`). Unknown or
    decommissioned devices fail the whole call, each reported at its position (`id_field`).
    """
    actor.require(Permission.MANAGE_FLEET)
    errors = FieldErrors()
    for unknown in sorted(set(values) - ASSIGN_FIELDS):
        errors.add(unknown, "invalid", "unknown field")
    if not values:
        errors.add("store_id", "required", "give a store, a group, or both")
    unique_ids = list(dict.fromkeys(device_ids))
    if not unique_ids:
        errors.add("device_ids", "required", "give at least one device")
    elif len(unique_ids) > MAX_BULK_DEVICES:
        errors.add("device_ids", "too_many", f"at most {MAX_BULK_DEVICES} devices at once")
    errors.raise_if_any("the assignment is not valid")

    async with services.uow() as uow:
        await _check_targets(uow.conn, values, errors)
        before = await _lock_devices(uow.conn, unique_ids)
        found = {row.id: row for row in before}
        for position, device_id in enumerate(device_ids):
            if device_id not in found:
                errors.add(id_field(position), "not_found", "no such device")
            elif found[device_id].status == DeviceStatus.DECOMMISSIONED.value:
                errors.add(id_field(position), "invalid", "the device is decommissioned")
        errors.raise_if_any("the assignment is not valid")
        after = list(
            (
                await uow.conn.execute(
                    sa.update(devices)
                    .where(devices.c.id.in_(unique_ids))
                    .values(**dict(values), updated_at=services.clock.now())
                    .returning(*devices.c)
                )
            ).all()
        )
        await _audit_many(uow.conn, actor, "device.assign", before, after)
        changed = [
            row.id
            for row in after
            if (found[row.id].store_id, found[row.id].group_id) != (row.store_id, row.group_id)
        ]
        if changed:
            await notify_plan_inputs_changed(uow, services, PlanChangeKind.DEVICE, changed)
        await uow.commit()
    order = {device_id: index for index, device_id in enumerate(unique_ids)}
    return sorted(after, key=lambda row: order[row.id])


async def assign_device(
    services: Services, actor: Actor, device_id: uuid.UUID, values: Mapping[str, Any]
) -> Row[Any]:
    rows = await assign_devices(services, actor, [device_id], values, id_field=lambda _: "id")
    return rows[0]


async def decommission_device(services: Services, actor: Actor, device_id: uuid.UUID) -> Row[Any]:
    """Retire a device for good: its tokens fail at once and it leaves every plan."""
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        locked = await _lock_devices(uow.conn, [device_id])
        if not locked:
            raise NotFound("device not found", field="id")
        before = locked[0]
        if before.status == DeviceStatus.DECOMMISSIONED.value:
            raise Conflict("the device is already decommissioned", field="id")
        await revoke_device_tokens(
            uow, services.redis, services.keys, services.clock, device_id, decommission=True
        )
        after = (await uow.conn.execute(sa.select(devices).where(devices.c.id == device_id))).one()
        await uow.conn.execute(
            sa.insert(device_status_transitions).values(
                device_id=device_id,
                from_status=before.status,
                to_status=DeviceStatus.DECOMMISSIONED.value,
                reason="decommissioned",
                at=services.clock.now(),
            )
        )
        await record(
            uow.conn,
            actor,
            action="device.decommission",
            target_type="device",
            target_id=device_id,
            before={"status": before.status},
            after={"status": after.status, "decommissioned_at": after.decommissioned_at},
        )
        await notify_plan_inputs_changed(uow, services, PlanChangeKind.DEVICE, [device_id])
        event = DeviceStatusEvent(
            device_id=device_id,
            store_id=after.store_id,
            group_id=after.group_id,
            status=after.status,
            previous_status=before.status,
            last_seen_at=after.last_seen_at,
        )

        async def publish() -> None:
            await publish_status_events(services.redis, services.keys, [event])

        uow.after_commit(publish)
        await uow.commit()
    return after
