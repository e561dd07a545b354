"""Stores: create, update and delete, each audited in the same transaction.

Inputs arrive as a mapping of field name to value holding only the fields the client sent,
and only the fields named in STORE_FIELDS are ever written (no mass assignment).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import PlanChangeKind
from core.db.rows import get_by_id
from core.db.tables import devices, stores
from core.errors import Conflict
from core.fleet.opening_hours import validate_opening_hours
from core.kernel.actor import Actor, Permission
from core.plans.changes import notify_plan_inputs_changed
from core.timezones import check_timezone
from core.validation import FieldErrors, clean_text

STORE_FIELDS = frozenset({"name", "city", "area", "address", "timezone", "opening_hours"})


def validate_store(values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Column values for the given fields; on a create (`partial=False`) every field counts."""
    errors = FieldErrors()
    for unknown in sorted(set(values) - STORE_FIELDS):
        errors.add(unknown, "invalid", "unknown field")

    def given(name: str) -> bool:
        return not partial or name in values

    columns: dict[str, Any] = {}
    if given("name"):
        columns["name"] = clean_text(errors, "name", values.get("name"), required=True)
    for name in ("city", "area"):
        if given(name):
            columns[name] = clean_text(errors, name, values.get(name), required=False)
    if given("address"):
        columns["address"] = clean_text(
            errors, "address", values.get("address"), required=False, max_length=500, multiline=True
        )
    if given("timezone"):
        columns["timezone"] = check_timezone(values.get("timezone"), errors)
    if given("opening_hours"):
        columns["operating_hours_json"] = validate_opening_hours(
            values.get("opening_hours"), errors
        )
    errors.raise_if_any("the store is not valid")
    return columns


async def create_store(services: Services, actor: Actor, values: Mapping[str, Any]) -> Row[Any]:
    actor.require(Permission.MANAGE_FLEET)
    columns = validate_store(values, partial=False)
    now = services.clock.now()
    async with services.uow() as uow:
        row = (
            await uow.conn.execute(
                sa.insert(stores)
                .values(**columns, created_at=now, updated_at=now)
                .returning(*stores.c)
            )
        ).one()
        await record(
            uow.conn, actor, action="store.create", target_type="store", target_id=row.id, after=row
        )
        await uow.commit()
    return row


async def update_store(
    services: Services, actor: Actor, store_id: uuid.UUID, values: Mapping[str, Any]
) -> Row[Any]:
    actor.require(Permission.MANAGE_FLEET)
    columns = validate_store(values, partial=True)
    async with services.uow() as uow:
        before = await get_by_id(uow.conn, stores, store_id, what="store", lock=True)
        after = (
            await uow.conn.execute(
                sa.update(stores)
                .where(stores.c.id == store_id)
                .values(**columns, updated_at=services.clock.now())
                .returning(*stores.c)
            )
        ).one()
        await record(
            uow.conn,
            actor,
            action="store.update",
            target_type="store",
            target_id=store_id,
            before=before,
            after=after,
        )
        if (before.timezone, before.operating_hours_json) != (
            after.timezone,
            after.operating_hours_json,
        ):
            # Schedules without a timezone of their own follow the store's.
            await notify_plan_inputs_changed(uow, services, PlanChangeKind.STORE, [store_id])
        await uow.commit()
    return after


async def delete_store(services: Services, actor: Actor, store_id: uuid.UUID) -> Row[Any]:
    """Delete a store that no device is assigned to (reassign them first)."""
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        before = await get_by_id(uow.conn, stores, store_id, what="store", lock=True)
        in_use = (
            await uow.conn.execute(sa.select(sa.func.count()).where(devices.c.store_id == store_id))
        ).scalar_one()
        if in_use:
            raise Conflict(
                f"{in_use} device(s) are assigned to this store; reassign them first",
                field="id",
                details={"code": "in_use"},
            )
        await uow.conn.execute(sa.delete(stores).where(stores.c.id == store_id))
        await record(
            uow.conn,
            actor,
            action="store.delete",
            target_type="store",
            target_id=store_id,
            before=before,
        )
        await uow.commit()
    return before
