"""Device credentials: a short-lived access JWT plus a rotating opaque refresh token.

RFC 9700 §4.14.2: each refresh spends the presented token and issues its successor in the
same family; presenting a spent token again means two parties hold the chain (theft), so
every token of the device is revoked (epoch bump) and the device has to pair again.
Refresh tokens are random 256-bit secrets stored only as sha256 hashes.

A player on store Wi-Fi can lose the answer to a refresh. It then retries with the token
it still holds, which strict rotation reads as theft, and the screen needs someone on
site to pair it again. With DEVICE_REFRESH_RETRY_GRACE_S = N > 0 (default 0: strict), a
spent token presented again within N seconds of its first use, while its successor was
never used, counts as that retry. The unused successor is marked superseded and a new
one is issued. A thief who wins that race gains nothing lasting: the real player's next
refresh presents the superseded token, which counts as reuse and revokes the device. Every
retry is audited (`device.refresh_retried`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import DeviceStatus
from core.db.tables import device_refresh_tokens, devices
from core.db.uow import UnitOfWork
from core.devices.token_epoch import revoke_device_tokens
from core.errors import DomainError, Unauthenticated
from core.kernel.actor import Actor
from core.security.tokens import TokenKind, TokenService, hash_secret, new_opaque_secret

EPOCH_CLAIM = "epoch"
STORE_CLAIM = "store_id"
GROUP_CLAIM = "group_id"


class InvalidRefreshToken(Unauthenticated):
    code = "invalid_grant"


class TokenRevoked(Unauthenticated):
    """The token's epoch is not the device's current one (revoked, decommissioned, gone)."""

    code = "token_revoked"


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: uuid.UUID
    access_token: str
    expires_in: int
    refresh_token: str


async def issue_credentials(
    conn: AsyncConnection,
    services: Services,
    tokens: TokenService,
    *,
    device_id: uuid.UUID,
    epoch: int,
    store_id: uuid.UUID | None,
    group_id: uuid.UUID | None,
    family_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
) -> DeviceCredentials:
    """Mint an access token and store the hash of a new refresh token (a new family if none)."""
    ttl = services.settings.device_access_ttl_s
    extra: dict[str, Any] = {EPOCH_CLAIM: epoch}
    if store_id is not None:
        extra[STORE_CLAIM] = str(store_id)
    if group_id is not None:
        extra[GROUP_CLAIM] = str(group_id)
    access, _ = tokens.issue(TokenKind.DEVICE_ACCESS, str(device_id), ttl_s=ttl, extra=extra)
    refresh = new_opaque_secret()
    now = services.clock.now()
    await conn.execute(
        insert(device_refresh_tokens).values(
            device_id=device_id,
            token_hash=hash_secret(refresh),
            family_id=family_id or uuid.uuid4(),
            parent_id=parent_id,
            expires_at=now + timedelta(seconds=services.settings.device_refresh_ttl_s),
            created_at=now,
        )
    )
    return DeviceCredentials(
        device_id=device_id, access_token=access, expires_in=ttl, refresh_token=refresh
    )


async def refresh_credentials(
    services: Services, tokens: TokenService, raw_token: str, *, client_ip: str | None
) -> DeviceCredentials:
    """Spend a refresh token for fresh credentials; reuse of a spent one revokes the device."""
    async with services.uow() as uow:
        outcome = await _rotate(uow, services, tokens, raw_token, client_ip)
        await uow.commit()
    # Raised only after COMMIT, so a detected reuse stays revoked and after-commit hooks
    # (the epoch cache) run.
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def _rotate(
    uow: UnitOfWork,
    services: Services,
    tokens: TokenService,
    raw_token: str,
    client_ip: str | None,
) -> DeviceCredentials | DomainError:
    conn, rt = uow.conn, device_refresh_tokens
    row = (
        await conn.execute(
            select(
                rt.c.id,
                rt.c.device_id,
                rt.c.family_id,
                rt.c.expires_at,
                rt.c.used_at,
                rt.c.revoked_at,
                rt.c.superseded_at,
                devices.c.status,
                devices.c.token_epoch,
                devices.c.store_id,
                devices.c.group_id,
            )
            .join(devices, devices.c.id == rt.c.device_id)
            .where(rt.c.token_hash == hash_secret(raw_token))
            .with_for_update(of=rt)
        )
    ).one_or_none()
    if row is None:
        return InvalidRefreshToken("unknown refresh token")
    if row.revoked_at is not None:
        return InvalidRefreshToken("refresh token revoked")
    # A superseded token never reached the device (a retry replaced it), so whoever shows
    # it got it elsewhere. A spent one is a retry only within the grace window.
    successor = None
    if row.used_at is not None and row.superseded_at is None:
        successor = await _retry_successor(conn, services, row.id, row.used_at)
    if row.superseded_at is not None or (row.used_at is not None and successor is None):
        return await _revoke_for_reuse(
            uow, services, row.device_id, row.family_id, row.id, client_ip
        )
    if row.status == DeviceStatus.DECOMMISSIONED.value:
        return InvalidRefreshToken("device is decommissioned")
    now = services.clock.now()
    if now >= row.expires_at:
        return InvalidRefreshToken("refresh token expired")
    if successor is None:
        await conn.execute(update(rt).where(rt.c.id == row.id).values(used_at=now))
    else:  # a retry: the successor it replaces never reached the device
        await conn.execute(update(rt).where(rt.c.id == successor).values(superseded_at=now))
        await record(
            conn,
            Actor.anonymous(client_ip),
            action="device.refresh_retried",
            target_type="device",
            target_id=row.device_id,
            details={"family_id": str(row.family_id), "superseded_token_id": str(successor)},
            at=now,
        )
    return await issue_credentials(
        conn,
        services,
        tokens,
        device_id=row.device_id,
        epoch=int(row.token_epoch),
        store_id=row.store_id,
        group_id=row.group_id,
        family_id=row.family_id,
        parent_id=row.id,
    )


async def _retry_successor(
    conn: AsyncConnection, services: Services, token_id: uuid.UUID, used_at: datetime
) -> uuid.UUID | None:
    """The successor a retry of `token_id` may replace, or None when this is reuse: outside
    the grace window, or the chain moved on (its successor was used, revoked or replaced)."""
    grace = services.settings.device_refresh_retry_grace_s
    if grace <= 0 or services.clock.now() - used_at > timedelta(seconds=grace):
        return None
    rt = device_refresh_tokens
    successor = (
        await conn.execute(
            select(rt.c.id, rt.c.used_at, rt.c.revoked_at)
            .where(rt.c.parent_id == token_id, rt.c.superseded_at.is_(None))
            .with_for_update()
        )
    ).one_or_none()
    if successor is None or successor.used_at is not None or successor.revoked_at is not None:
        return None
    successor_id: uuid.UUID = successor.id
    return successor_id


async def _revoke_for_reuse(
    uow: UnitOfWork,
    services: Services,
    device_id: uuid.UUID,
    family_id: uuid.UUID,
    token_id: uuid.UUID,
    client_ip: str | None,
) -> DomainError:
    await revoke_device_tokens(uow, services.redis, services.keys, services.clock, device_id)
    await record(
        uow.conn,
        Actor.anonymous(client_ip),
        action="device.refresh_token_reused",
        target_type="device",
        target_id=device_id,
        details={"family_id": str(family_id), "token_id": str(token_id)},
        at=services.clock.now(),
    )
    return InvalidRefreshToken("refresh token already used; every token of this device is revoked")
