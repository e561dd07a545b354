"""Console sessions: login, rotating refresh tokens, logout, and access-token checks.

The access token is a short-lived JWT (`typ` console-access, `sub` the user id, `role` and
`epoch` claims). The refresh token is an opaque secret stored only as a hash, one row per
rotation, chained in a family: presenting a refresh token that was already spent means it was
copied, so the whole family is revoked (RFC 9700 §4.14.2). Bumping `users.token_epoch`
(disable, role change, logout everywhere, refresh-token reuse) invalidates every access token
at once, because each request, and each operation on an open websocket, compares the token's
epoch with the current one. The bump is also published (`core.events_bus.SESSIONS`) so every
API process closes that user's open websockets at once instead of at their next operation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import user_refresh_tokens, users
from core.db.uow import UnitOfWork
from core.errors import RateLimited, Unauthenticated
from core.events_bus import SESSIONS, EventBus
from core.identity.passwords import (
    burn_verification,
    hash_password,
    needs_rehash,
    verify_password,
)
from core.identity.throttle import DEFAULT_LOGIN_THROTTLE, LoginThrottle
from core.kernel.actor import Actor
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
class AuthenticatedSession:
    """What a valid access token proves: who acts now, and until when the token may be used.
    A websocket keeps it to close itself at `expires_at` or when `epoch` is superseded."""

    actor: Actor
    epoch: int
    expires_at: datetime


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
        attempt = await throttle.admit(
            services.redis, services.keys, services.clock, client_ip=client_ip, email=email
        )
    except RateLimited:
        await fail("rate_limited", None)
        raise
    failed = False
    try:
        return await _sign_in(services, email, password, client_ip, fail)
    except InvalidCredentials:
        failed = True
        raise
    finally:  # a success, or an error of ours, gives the throttle's slots back
        await attempt.settle(failed=failed)


async def _sign_in(
    services: Services,
    email: str,
    password: str,
    client_ip: str | None,
    fail: Callable[[str, uuid.UUID | None], Awaitable[None]],
) -> Session:
    """Check the credentials (Argon2) and start a session; InvalidCredentials, audited by
    `fail`, when they are wrong."""
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
    """Rotate a refresh token. Reuse of a spent one revokes its whole family and ends the
    user's access tokens, durably, before the error is raised."""
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
        reused = row.used_at is not None
        if reused:
            await _revoke_reused_family(uow, services, row, client_ip)
        else:
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
            await record(
                uow.conn,
                Actor.user(row.user_id, Role(row.role), client_ip),
                action="auth.refresh",
                target_type="user",
                target_id=row.user_id,
                details={"family_id": str(row.family_id)},
            )
            await uow.commit()
    if reused:  # raised outside the block, so the revocation is committed and announced
        raise RefreshTokenReused("refresh token was already used; the session is revoked")
    role = Role(row.role)
    access, access_expires = _access_token(services, row.user_id, role, int(row.token_epoch))
    return Session(row.user_id, role, access, access_expires, new_secret, new_expires)


async def _revoke_reused_family(
    uow: UnitOfWork, services: Services, row: Any, client_ip: str | None
) -> None:
    """A spent refresh token came back: someone holds a copy. Its family is revoked, and so
    is every access token of the user, since the copy may already have been refreshed into
    one (RFC 9700 §4.14.2). The user's other sessions keep their refresh tokens and recover
    with one refresh."""
    now = services.clock.now()
    await uow.conn.execute(
        update(user_refresh_tokens)
        .where(
            user_refresh_tokens.c.family_id == row.family_id,
            user_refresh_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    await end_access_tokens(uow, services, row.user_id)
    await record(
        uow.conn,
        Actor.anonymous(client_ip),
        action="auth.refresh_reused",
        target_type="user",
        target_id=row.user_id,
        details={"family_id": str(row.family_id)},
    )
    await uow.commit()


async def logout(
    services: Services, actor: Actor, *, refresh_token: str | None, everywhere: bool
) -> None:
    """End the session behind `refresh_token`, or every session of the user (`everywhere`)."""
    if actor.user_id is None:
        raise Unauthenticated("authentication required")
    now = services.clock.now()
    async with services.uow() as uow:
        if everywhere:
            await end_access_tokens(uow, services, actor.user_id)
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


async def end_access_tokens(uow: UnitOfWork, services: Services, user_id: uuid.UUID) -> int:
    """Bump the user's token epoch inside `uow`: every access token issued so far stops
    working at its next use. After COMMIT the new epoch is published on `SESSIONS`, so every
    API process also closes the user's open websockets at once. Returns the new epoch."""
    epoch = int(
        (
            await uow.conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(token_epoch=users.c.token_epoch + 1, updated_at=services.clock.now())
                .returning(users.c.token_epoch)
            )
        ).scalar_one()
    )
    bus = EventBus(services.redis, services.keys)

    async def announce() -> None:
        await bus.publish(SESSIONS, {"user_id": str(user_id), "epoch": epoch})

    uow.after_commit(announce)
    return epoch


def supersedes(event: dict[str, Any], session: AuthenticatedSession) -> bool:
    """True when a `SESSIONS` event ends this session (same user, newer epoch). Malformed
    events end nothing: the per-operation check still holds."""
    epoch = event.get("epoch")
    return (
        event.get("user_id") == str(session.actor.user_id)
        and isinstance(epoch, int)
        and epoch > session.epoch
    )


async def authenticate(services: Services, token: str, client_ip: str | None) -> Actor:
    """The actor behind a console access token, or Unauthenticated (see
    `authenticate_session`)."""
    return (await authenticate_session(services, token, client_ip)).actor


async def authenticate_session(
    services: Services, token: str, client_ip: str | None
) -> AuthenticatedSession:
    """Check a console access token: signature, expiry (against the injected clock), and the
    user, in one primary-key lookup. Every HTTP request and every websocket operation goes
    through here.

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
    return AuthenticatedSession(
        Actor.user(user_id, Role(user.role), client_ip), user.token_epoch, verified.expires_at
    )
