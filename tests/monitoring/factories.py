"""Rows for monitoring tests, inserted directly: the sweep reads what heartbeats leave behind."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import device_groups, devices, incidents, stores, users

WEEKDAYS_9_TO_21: dict[str, list[dict[str, str]]] = {
    **{day: [{"open": "09:00", "close": "21:00"}] for day in ("mon", "tue", "wed", "thu", "fri")},
    "sat": [{"open": "10:00", "close": "18:00"}],
    "sun": [],
}


async def make_store(
    services: Services,
    *,
    timezone: str = "Europe/Berlin",
    hours: Any = None,
    name: str | None = None,
) -> uuid.UUID:
    async with services.engine.begin() as conn:
        return (
            await conn.execute(
                sa.insert(stores)
                .values(
                    name=name or f"store-{uuid.uuid4().hex[:6]}",
                    timezone=timezone,
                    operating_hours_json=WEEKDAYS_9_TO_21 if hours is None else hours,
                )
                .returning(stores.c.id)
            )
        ).scalar_one()


async def make_group(services: Services, policy: dict[str, Any] | None = None) -> uuid.UUID:
    async with services.engine.begin() as conn:
        return (
            await conn.execute(
                sa.insert(device_groups)
                .values(name=f"group-{uuid.uuid4().hex[:6]}", policy_json=policy or {})
                .returning(device_groups.c.id)
            )
        ).scalar_one()


async def make_device(
    services: Services,
    *,
    store_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
    status: str = "online",
    last_seen_at: datetime | None = None,
    **telemetry: Any,
) -> uuid.UUID:
    async with services.engine.begin() as conn:
        return (
            await conn.execute(
                sa.insert(devices)
                .values(
                    store_id=store_id,
                    group_id=group_id,
                    status=status,
                    last_seen_at=last_seen_at,
                    external_name=f"screen-{uuid.uuid4().hex[:6]}",
                    **telemetry,
                )
                .returning(devices.c.id)
            )
        ).scalar_one()


async def update_device(services: Services, device_id: uuid.UUID, **values: Any) -> None:
    """What a heartbeat (or the console) would have written."""
    async with services.engine.begin() as conn:
        await conn.execute(sa.update(devices).where(devices.c.id == device_id).values(**values))


async def make_user(services: Services, role: Role = Role.OPERATOR) -> uuid.UUID:
    async with services.engine.begin() as conn:
        return (
            await conn.execute(
                sa.insert(users)
                .values(
                    email=f"{role.value.lower()}-{uuid.uuid4().hex[:8]}@example.test",
                    password_hash="not-a-real-hash",
                    role=role.value,
                )
                .returning(users.c.id)
            )
        ).scalar_one()


async def device_row(services: Services, device_id: uuid.UUID) -> Any:
    async with services.engine.connect() as conn:
        return (await conn.execute(sa.select(devices).where(devices.c.id == device_id))).one()


async def incident_rows(services: Services, **where: Any) -> list[Any]:
    query = sa.select(incidents).order_by(incidents.c.created_at, incidents.c.id)
    for column, value in where.items():
        query = query.where(incidents.c[column] == value)
    async with services.engine.connect() as conn:
        return list((await conn.execute(query)).all())
