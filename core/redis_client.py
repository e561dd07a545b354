"""Redis connections and key naming.

Every key goes through `Keys`, whose prefix isolates deployments sharing one Redis (and each
test run from the next).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis


def create_redis(url: str, *, max_connections: int = 200) -> aioredis.Redis:
    """A blocking pool: under a burst, callers wait briefly for a connection instead of
    failing with MaxConnectionsError once too many commands are in flight."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=5, health_check_interval=30
    )
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() disconnects it


@dataclass(frozen=True)
class Keys:
    prefix: str = "signage:"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def channel(self, name: str) -> str:
        return self.prefix + "events:" + name
