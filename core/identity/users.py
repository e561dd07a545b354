"""Console user management (ADMIN only): create, change role, disable and enable.

Role changes and disabling bump the user's token epoch and revoke their refresh tokens, so
the change applies to sessions that are already open. An admin cannot demote or disable
themselves, which also guarantees that the last admin is never locked out by accident.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import Role
from core.db.rows import get_by_id
from core.db.tables import users
from core.errors import Conflict
from core.identity.passwords import MIN_PASSWORD_LENGTH, hash_password
from core.identity.sessions import (
    end_access_tokens,
    normalize_email,
    revoke_all_refresh_tokens,
)
from core.kernel.actor import Actor, Permission
from core.validation import FieldErrors, contains_pattern

MAX_PASSWORD_LENGTH = 1024
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Columns safe to show and to write into the audit log (never the password hash).
PUBLIC_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.role,
    users.c.disabled,
    users.c.last_login_at,
    users.c.created_at,
    users.c.updated_at,
)


def validate_new_user(email: str, password: str) -> str:
    errors = FieldErrors()
    email = normalize_email(email)
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        errors.add("email", "invalid_format", "not a valid email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.add("password", "too_short", f"at least {MIN_PASSWORD_LENGTH} characters")
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors.add("password", "too_long", f"at most {MAX_PASSWORD_LENGTH} characters")
    errors.raise_if_any("the user is not valid")
    return email


@dataclass(frozen=True)
class NewUser:
    """A validated account ready to insert: normalized email and argon2 hash."""

    email: str
    password_hash: str


async def prepare_new_user(email: str, password: str) -> NewUser:
    """Validate (ValidationFailed) and hash, off the event loop: argon2 takes a while."""
    email = validate_new_user(email, password)
    return NewUser(email, await asyncio.to_thread(hash_password, password))


async def insert_user(
    conn: AsyncConnection,
    actor: Actor,
    new_user: NewUser,
    *,
    role: Role,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> Row[Any] | None:
    """Insert and audit in the caller's transaction; None if the email is taken.

    Every way in creates accounts here: the API (`create_user`), `signage create-admin` and
    the demo seed, so all of them apply the same validation, normalization and audit."""
    row = (
        await conn.execute(
            pg_insert(users)
            .values(
                email=new_user.email,
                password_hash=new_user.password_hash,
                role=role.value,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[users.c.email])
            .returning(*PUBLIC_COLUMNS)
        )
    ).one_or_none()
    if row is not None:
        await record(
            conn,
            actor,
            action="user.create",
            target_type="user",
            target_id=row.id,
            after=row,
            details=details,
        )
    return row


async def create_user(
    services: Services,
    actor: Actor,
    *,
    email: str,
    password: str,
    role: Role,
    details: dict[str, Any] | None = None,
) -> Row[Any]:
    actor.require(Permission.MANAGE_USERS)
    new_user = await prepare_new_user(email, password)
    async with services.uow() as uow:
        row = await insert_user(
            uow.conn, actor, new_user, role=role, now=services.clock.now(), details=details
        )
        if row is None:
            raise Conflict(
                "a user with this email exists", field="email", details={"code": "duplicate"}
            )
        await uow.commit()
    return row


async def _change(
    services: Services,
    actor: Actor,
    user_id: uuid.UUID,
    *,
    action: str,
    values: dict[str, Any],
    revoke_sessions: bool,
) -> Row[Any]:
    actor.require(Permission.MANAGE_USERS)
    if user_id == actor.user_id:
        raise Conflict(
            "you cannot change your own role or disable your own account",
            field="id",
            details={"code": "conflict"},
        )
    now = services.clock.now()
    async with services.uow() as uow:
        before = await get_by_id(
            uow.conn, users, user_id, what="user", lock=True, columns=PUBLIC_COLUMNS
        )
        changes: dict[str, Any] = {**values, "updated_at": now}
        if revoke_sessions:
            await end_access_tokens(uow, services, user_id)
            await revoke_all_refresh_tokens(uow.conn, user_id, now)
        after = (
            await uow.conn.execute(
                sa.update(users)
                .where(users.c.id == user_id)
                .values(**changes)
                .returning(*PUBLIC_COLUMNS)
            )
        ).one()
        await record(
            uow.conn,
            actor,
            action=action,
            target_type="user",
            target_id=user_id,
            before=before,
            after=after,
        )
        await uow.commit()
    return after


async def update_user_role(
    services: Services, actor: Actor, user_id: uuid.UUID, role: Role
) -> Row[Any]:
    return await _change(
        services,
        actor,
        user_id,
        action="user.update_role",
        values={"role": role.value},
        revoke_sessions=True,
    )


async def set_user_disabled(
    services: Services, actor: Actor, user_id: uuid.UUID, *, disabled: bool
) -> Row[Any]:
    return await _change(
        services,
        actor,
        user_id,
        action="user.disable" if disabled else "user.enable",
        values={"disabled": disabled},
        revoke_sessions=disabled,
    )


def users_query(
    *, role: Role | None = None, disabled: bool | None = None, search: str | None = None
) -> sa.Select[Any]:
    stmt = sa.select(*PUBLIC_COLUMNS)
    if role is not None:
        stmt = stmt.where(users.c.role == role.value)
    if disabled is not None:
        stmt = stmt.where(users.c.disabled.is_(disabled))
    if search:
        stmt = stmt.where(users.c.email.ilike(contains_pattern(search), escape="\\"))
    return stmt
