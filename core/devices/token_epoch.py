"""Immediate device revocation through a per-device token epoch.

Every device access token carries the epoch it was minted under (claim `epoch`). Revoking or
decommissioning bumps `devices.token_epoch` and revokes the refresh chains; the edge compares
the token's epoch with the current one on every request. The current epoch is cached in Redis
so the hot path needs no PostgreSQL query: the cache is written after COMMIT with the new
value (never merely deleted, so a concurrent reader cannot re-cache the old one for long),
and it expires after CACHE_TTL_S as a bound on any missed update.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.enums import DeviceStatus
from core.db.tables import device_refresh_tokens, devices
from core.db.uow import UnitOfWork
from core.errors import NotFound
from core.redis_client import Keys

CACHE_TTL_S = 300
REVOKED = -1  # cached for devices that no longer exist or are decommissioned


def epoch_key(keys: Keys, device_id: uuid.UUID) -> str:
    return keys.key("device", str(device_id), "epoch")


async def current_epoch(
    conn: AsyncConnection | None,
    redis: aioredis.Redis,
    keys: Keys,
    device_id: uuid.UUID,
) -> int:
    """The device's current epoch, or REVOKED. Reads PostgreSQL only on a cache miss."""
    cached = await redis.get(epoch_key(keys, device_id))
    if cached is not None:
        return int(cached)
    if conn is None:
        raise RuntimeError("cache miss needs a connection")
    row = (
        await conn.execute(
            select(devices.c.token_epoch, devices.c.status).where(devices.c.id == device_id)
        )
    ).one_or_none()
    epoch = REVOKED
    if row is not None and row.status != DeviceStatus.DECOMMISSIONED.value:
        epoch = int(row.token_epoch)
    # NX: if a revocation published its new epoch meanwhile, keep that one.
    await redis.set(epoch_key(keys, device_id), epoch, ex=CACHE_TTL_S, nx=True)
    return epoch


async def revoke_device_tokens(
    uow: UnitOfWork,
    redis: aioredis.Redis,
    keys: Keys,
    clock: Clock,
    device_id: uuid.UUID,
    *,
    decommission: bool = False,
) -> int:
    """Bump the epoch and revoke every refresh chain, inside the caller's transaction."""
    values: dict[str, object] = {
        "token_epoch": devices.c.token_epoch + 1,
        "updated_at": clock.now(),
    }
    if decommission:
        values |= {
            "status": DeviceStatus.DECOMMISSIONED.value,
            "decommissioned_at": clock.now(),
            "status_changed_at": clock.now(),
        }
    row = (
        await uow.conn.execute(
            update(devices)
            .where(devices.c.id == device_id)
            .values(**values)
            .returning(devices.c.token_epoch)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("device not found", field="id")
    await uow.conn.execute(
        update(device_refresh_tokens)
        .where(
            device_refresh_tokens.c.device_id == device_id,
            device_refresh_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
    )
    new_epoch = REVOKED if decommission else int(row.token_epoch)

    async def publish() -> None:
        await redis.set(epoch_key(keys, device_id), new_epoch, ex=CACHE_TTL_S)

    uow.after_commit(publish)
    return new_epoch
