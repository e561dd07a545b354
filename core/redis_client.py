"""Redis connections and key naming.

Every key goes through `Keys`, whose prefix isolates deployments sharing one Redis (and each
test run from the next).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis


def create_redis(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=30)


@dataclass(frozen=True)
class Keys:
    prefix: str = "signage:"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def channel(self, name: str) -> str:
        return self.prefix + "events:" + name
