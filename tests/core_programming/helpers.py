"""Helpers shared by the programming service tests."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log, users
from core.kernel.actor import Actor


async def make_user(services: Services, role: Role) -> Actor:
    async with services.engine.begin() as conn:
        user_id = (
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
    return Actor.user(user_id, role)


async def audit_rows(services: Services, action: str | None = None) -> list[Any]:
    query = sa.select(audit_log).order_by(audit_log.c.id)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    async with services.engine.connect() as conn:
        return list((await conn.execute(query)).all())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
