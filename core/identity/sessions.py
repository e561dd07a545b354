"""Console sessions: login, rotating refresh tokens, logout, and access-token checks.

The access token is a short-lived JWT (`typ` console-access, `sub` the user id, `role` and
`epoch` claims). The refresh token is an opaque secret stored only as a hash, one row per
rotation, chained in a family: presenting a refresh token that was already spent means it was
copied, so the whole family is revoked (RFC 9700 §4.14.2). Bumping `users.token_epoch`
(disable, role change, logout everywhere) invalidates every access token at once, because each
request compares the token's epoch with the current one.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import user_refresh_tokens, users
from core.errors import RateLimited, Unauthenticated
from core.identity.actor import Actor
from core.identity.passwords import (
    burn_verification,
    hash_password,
    needs_rehash,
    verify_password,
)
from core.identity.throttle import DEFAULT_LOGIN_THROTTLE, LoginThrottle
from core.security.tokens import (
    InvalidToken,
    TokenKind,
    TokenService,
    hash_secret,
    new_opaque_secret,
)


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"


class RefreshTokenReused(Unauthenticated):
    code = "token_reused"


class RefreshTokenExpired(Unauthenticated):
    code = "token_expired"


@dataclass(frozen=True)
class Session:
    user_id: uuid.UUID
    role: Role
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _tokens(services: Services) -> TokenService:
    return TokenService(services.settings, services.clock)


async def _start_refresh_chain(
    conn: AsyncConnection,
    services: Services,
    user_id: uuid.UUID,
    *,
    family_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
) -> tuple[str, datetime]:
    secret = new_opaque_secret()
    expires = services.clock.now() + timedelta(seconds=services.settings.console_refresh_ttl_s)
    await conn.execute(
        insert(user_refresh_tokens).values(
            user_id=user_id,
            token_hash=hash_secret(secret),
            family_id=family_id or uuid.uuid4(),
            parent_id=parent_id,
            expires_at=expires,
            created_at=services.clock.now(),
        )
    )
    return secret, expires


def _access_token(
    services: Services, user_id: uuid.UUID, role: Role, epoch: int
) -> tuple[str, datetime]:
    return _tokens(services).issue(
        TokenKind.CONSOLE_ACCESS,
        str(user_id),
        ttl_s=services.settings.console_access_ttl_s,
        extra={"role": role.value, "epoch": epoch},
    )


async def login(
    services: Services,
    *,
    email: str,
    password: str,
    client_ip: str | None,
    throttle: LoginThrottle = DEFAULT_LOGIN_THROTTLE,
) -> Session:
    """Exchange credentials for a session. Failures are audited and throttled, and they look
    the same whether the email is unknown, the password wrong or the account disabled."""
    email = normalize_email(email)
    anonymous = Actor.anonymous(client_ip)

    async def fail(reason: str, user_id: uuid.UUID | None) -> None:
        async with services.uow() as uow:
            await record(
                uow.conn,
                anonymous,
                action="auth.login_failed",
                target_type="user",
                target_id=email,
                details={"reason": reason, "user_id": str(user_id) if user_id else None},
            )
            await uow.commit()

    try:
        await throttle.admit(
            services.redis, services.keys, services.clock, client_ip=client_ip, email=email
        )
    except RateLimited:
        await fail("rate_limited", None)
        raise

    async with services.engine.connect() as conn:
        user = (
            await conn.execute(
                select(users.c.id, users.c.password_hash, users.c.role, users.c.disabled).where(
                    users.c.email == email
                )
            )
        ).one_or_none()
    if user is None:
        await asyncio.to_thread(burn_verification, password)
        ok = False
    else:
        ok = await asyncio.to_thread(verify_password, user.password_hash, password)
    if not ok or user is None or user.disabled:
        await throttle.record_failure(services.redis, services.keys, services.clock, email=email)
        reason = "unknown_email" if user is None else ("disabled" if ok else "bad_password")
        await fail(reason, user.id if user is not None else None)
        raise InvalidCredentials("email or password is incorrect")

    role = Role(user.role)
    actor = Actor.user(user.id, role, client_ip)
    rehash = None
    if needs_rehash(user.password_hash):
        rehash = await asyncio.to_thread(hash_password, password)
    async with services.uow() as uow:
        values: dict[str, Any] = {"last_login_at": services.clock.now()}
        if rehash is not None:
            values["password_hash"] = rehash
        epoch = (
            await uow.conn.execute(
                update(users)
                .where(users.c.id == user.id, users.c.disabled.is_(False))
                .values(**values)
                .returning(users.c.token_epoch)
            )
        ).scalar_one_or_none()
        if epoch is None:  # disabled between the check and now
            raise InvalidCredentials("email or password is incorrect")
        refresh_token, refresh_expires = await _start_refresh_chain(uow.conn, services, user.id)
        await record(uow.conn, actor, action="auth.login", target_type="user", target_id=user.id)
        await uow.commit()
    access, access_expires = _access_token(services, user.id, role, int(epoch))
    return Session(user.id, role, access, access_expires, refresh_token, refresh_expires)


async def refresh(services: Services, *, refresh_token: str, client_ip: str | None) -> Session:
    """Rotate a refresh token. Reuse of a spent one revokes its whole family, durably, before
    the error is raised."""
    now = services.clock.now()
    async with services.uow() as uow:
        row = (
            await uow.conn.execute(
                select(
                    user_refresh_tokens,
                    users.c.role,
                    users.c.disabled,
                    users.c.token_epoch,
                )
                .join(users, users.c.id == user_refresh_tokens.c.user_id)
                .where(user_refresh_tokens.c.token_hash == hash_secret(refresh_token))
                .with_for_update(of=user_refresh_tokens)
            )
        ).one_or_none()
        if row is None or row.revoked_at is not None or row.disabled:
            raise InvalidToken("refresh token is not valid")
        if row.used_at is not None:
            await uow.conn.execute(
                update(user_refresh_tokens)
                .where(
                    user_refresh_tokens.c.family_id == row.family_id,
                    user_refresh_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            await record(
                uow.conn,
                Actor.anonymous(client_ip),
                action="auth.refresh_reused",
                target_type="user",
                target_id=row.user_id,
                details={"family_id": str(row.family_id)},
            )
            await uow.commit()  # the revocation must survive the error below
            raise RefreshTokenReused("refresh token was already used; the session is revoked")
        if now >= row.expires_at:
            raise RefreshTokenExpired("refresh token expired")
        await uow.conn.execute(
            update(user_refresh_tokens)
            .where(user_refresh_tokens.c.id == row.id)
            .values(used_at=now)
        )
        new_secret, new_expires = await _start_refresh_chain(
            uow.conn, services, row.user_id, family_id=row.family_id, parent_id=row.id
        )
        role = Role(row.role)
        await record(
            uow.conn,
            Actor.user(row.user_id, role, client_ip),
            action="auth.refresh",
            target_type="user",
            target_id=row.user_id,
            details={"family_id": str(row.family_id)},
        )
        await uow.commit()
    access, access_expires = _access_token(services, row.user_id, role, int(row.token_epoch))
    return Session(row.user_id, role, access, access_expires, new_secret, new_expires)


async def logout(
    services: Services, actor: Actor, *, refresh_token: str | None, everywhere: bool
) -> None:
    """End the session behind `refresh_token`, or every session of the user (`everywhere`)."""
    if actor.user_id is None:
        raise Unauthenticated("authentication required")
    now = services.clock.now()
    async with services.uow() as uow:
        if everywhere:
            await uow.conn.execute(
                update(users)
                .where(users.c.id == actor.user_id)
                .values(token_epoch=users.c.token_epoch + 1, updated_at=now)
            )
            await revoke_all_refresh_tokens(uow.conn, actor.user_id, now)
        elif refresh_token:
            family = (
                select(user_refresh_tokens.c.family_id)
                .where(
                    user_refresh_tokens.c.token_hash == hash_secret(refresh_token),
                    user_refresh_tokens.c.user_id == actor.user_id,
                )
                .scalar_subquery()
            )
            await uow.conn.execute(
                update(user_refresh_tokens)
                .where(
                    user_refresh_tokens.c.family_id == family,
                    user_refresh_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
        await record(
            uow.conn,
            actor,
            action="auth.logout",
            target_type="user",
            target_id=actor.user_id,
            details={"everywhere": everywhere},
        )
        await uow.commit()


async def revoke_all_refresh_tokens(
    conn: AsyncConnection, user_id: uuid.UUID, now: datetime
) -> None:
    await conn.execute(
        update(user_refresh_tokens)
        .where(user_refresh_tokens.c.user_id == user_id, user_refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def authenticate(services: Services, token: str, client_ip: str | None) -> Actor:
    """The actor behind a console access token, or Unauthenticated.

    The role comes from the database, not the token, and the epoch must match, so disabling a
    user or changing their role takes effect on their very next request.
    """
    verified = _tokens(services).verify(token, TokenKind.CONSOLE_ACCESS)
    try:
        user_id = uuid.UUID(verified.subject)
    except ValueError as exc:
        raise InvalidToken("invalid token subject") from exc
    epoch = verified.claims.get("epoch")
    async with services.engine.connect() as conn:
        user = (
            await conn.execute(
                select(users.c.role, users.c.disabled, users.c.token_epoch).where(
                    users.c.id == user_id
                )
            )
        ).one_or_none()
    if user is None or user.disabled or epoch != user.token_epoch:
        raise InvalidToken("token has been revoked")
    return Actor.user(user_id, Role(user.role), client_ip)
