"""What the device edge needs from Redis on every authenticated request, in one round trip.

Each request must compare its token's epoch with the device's current one, and a plan poll
also needs the device's current plan ETag. Read separately, that is two Redis commands per
request, and redis-py spends more CPU per command than the rest of a 304 answer. Here both
keys of every device in a batch come back from one MGET, and the concurrent requests of one
process are coalesced into that batch (core.devices.coalescing).

Batches run one at a time (`max_in_flight=1`): while one MGET is on the wire, the requests
that arrive queue up and share the next one, so under load a single round trip answers
dozens of requests, while an idle process still reads at once. Nothing is cached
in-process: a revocation or a new plan is seen by the very next batch.

Epoch cache misses (expired or never filled) are filled from PostgreSQL with one SELECT and
one pipelined SET NX per batch; a missing plan ETag stays None (the plan route then reads
or generates the plan).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.enums import DeviceStatus
from core.db.tables import devices
from core.devices.coalescing import Coalescer
from core.devices.heartbeat import plan_etag_key
from core.devices.token_epoch import CACHE_TTL_S, REVOKED, epoch_key
from core.redis_client import Keys


@dataclass(frozen=True, slots=True)
class CachedDeviceState:
    epoch: int  # the current token epoch, or REVOKED
    plan_etag: str | None  # the current plan's ETag, None when no plan is cached


class DeviceStateReader:
    """One per process and event loop (the edge keeps it in its context)."""

    def __init__(
        self, engine: AsyncEngine, redis: aioredis.Redis, keys: Keys, *, max_in_flight: int = 1
    ) -> None:
        self._engine = engine
        self.redis = redis
        self._keys = keys
        self._coalescer: Coalescer[uuid.UUID, CachedDeviceState] = Coalescer(
            self._read, max_batch=1000, max_in_flight=max_in_flight
        )

    @property
    def batches(self) -> int:
        return self._coalescer.batches

    async def read(self, device_id: uuid.UUID) -> CachedDeviceState:
        return await self._coalescer.submit(device_id)

    async def _read(
        self, device_ids: Sequence[uuid.UUID]
    ) -> list[CachedDeviceState | BaseException]:
        wanted: list[str] = []
        for device_id in device_ids:
            wanted += (epoch_key(self._keys, device_id), plan_etag_key(self._keys, device_id))
        values = await self.redis.mget(wanted)
        found = {
            d: int(raw) for d, raw in zip(device_ids, values[0::2], strict=True) if raw is not None
        }
        missing = sorted({d for d in device_ids if d not in found})
        if missing:
            found |= await self._fill_epochs(missing)
        return [
            CachedDeviceState(found[d], raw.decode() if isinstance(raw, bytes) else raw)
            for d, raw in zip(device_ids, values[1::2], strict=True)
        ]

    async def _fill_epochs(self, missing: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(devices.c.id, devices.c.token_epoch, devices.c.status).where(
                    devices.c.id.in_(missing)
                )
            )
            live = {
                row.id: int(row.token_epoch)
                for row in rows
                if row.status != DeviceStatus.DECOMMISSIONED.value
            }
        filled = {device_id: live.get(device_id, REVOKED) for device_id in missing}
        async with self.redis.pipeline(transaction=False) as pipe:
            for device_id, epoch in filled.items():
                # NX: a fill must never overwrite what a concurrent revocation wrote.
                pipe.set(epoch_key(self._keys, device_id), epoch, ex=CACHE_TTL_S, nx=True)
            await pipe.execute()
        return filled
