"""Fixed-window counters in Redis, bucketed by the injected clock.

Why fixed windows keyed by clock time: one INCR per counted event and one GET per check is
the cheapest shape Redis offers, every edge process shares the count, and tests can travel
past a window with the FrozenClock instead of sleeping. The Redis TTL only garbage-collects
old buckets; it never decides whether a request is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.clock import Clock
from core.errors import RateLimited
from core.redis_client import Keys


@dataclass(frozen=True)
class RateLimit:
    name: str
    limit: int
    window_s: int


class FixedWindowLimiter:
    def __init__(self, redis: aioredis.Redis, keys: Keys, clock: Clock, rule: RateLimit) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self.rule = rule

    def _bucket(self, subject: str) -> tuple[str, int]:
        """The bucket key and how many seconds remain until the window resets."""
        now = self._clock.now().timestamp()
        index = int(now // self.rule.window_s)
        retry_after = max(1, math.ceil((index + 1) * self.rule.window_s - now))
        return self._keys.key("ratelimit", self.rule.name, subject, str(index)), retry_after

    def _refuse(self, retry_after: int) -> RateLimited:
        return RateLimited(
            f"too many requests; retry in {retry_after} s", retry_after_s=retry_after
        )

    async def ensure_allowed(self, subject: str) -> None:
        """Raise RateLimited when the subject already used up this window (counts nothing)."""
        key, retry_after = self._bucket(subject)
        count = await self._redis.get(key)
        if count is not None and int(count) >= self.rule.limit:
            raise self._refuse(retry_after)

    async def hit(self, subject: str) -> int:
        """Count one event; returns the count in the current window."""
        key, _ = self._bucket(subject)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.rule.window_s + 60)
            count, _ = await pipe.execute()
        return int(count)

    async def consume(self, subject: str) -> None:
        """Count one event and raise RateLimited if it went over the limit."""
        _, retry_after = self._bucket(subject)
        if await self.hit(subject) > self.rule.limit:
            raise self._refuse(retry_after)
