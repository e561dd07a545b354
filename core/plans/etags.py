"""The device edge's read of current plan ETags, coalesced across concurrent requests.

Every plan poll with If-None-Match needs the device's current ETag. Read alone, that is one
Redis command per request, and redis-py spends more CPU per command than the rest of the
304 answer. Coalesced (core.devices.coalescing), the concurrent polls of one process share
one MGET per batch; an idle process still answers at once. Nothing is cached in-process:
every batch reads Redis, so a new ETag is seen by the very next batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import redis.asyncio as aioredis

from core.devices.coalescing import Coalescer
from core.devices.heartbeat import plan_etag_key
from core.redis_client import Keys


class PlanEtagReader:
    """One per process and event loop (the edge keeps it in its app state)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, max_in_flight: int = 4) -> None:
        self.redis = redis
        self._keys = keys
        self._coalescer: Coalescer[uuid.UUID, str | None] = Coalescer(
            self._read, max_batch=1000, max_in_flight=max_in_flight
        )

    @property
    def batches(self) -> int:
        return self._coalescer.batches

    async def etag(self, device_id: uuid.UUID) -> str | None:
        return await self._coalescer.submit(device_id)

    async def _read(self, device_ids: Sequence[uuid.UUID]) -> list[str | BaseException | None]:
        keys = [plan_etag_key(self._keys, d) for d in device_ids]
        values = await self.redis.mget(keys)
        return [v.decode() if isinstance(v, bytes) else v for v in values]
