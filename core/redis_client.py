"""Redis connections and key naming.

Every key goes through `Keys`, whose prefix isolates deployments sharing one Redis (and each
test run from the next).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis


def create_redis(url: str, *, max_connections: int = 200, timeout_s: float = 5.0) -> aioredis.Redis:
    """A blocking pool: under a burst, callers wait briefly for a connection instead of
    failing with MaxConnectionsError once too many commands are in flight.

    Every wait is bounded by `timeout_s` (REDIS_TIMEOUT_S): connecting, and each reply, so a
    frozen Redis becomes a TimeoutError (a 503 on the edge) instead of a hang. Blocking
    pub/sub reads are exempt (redis-py reads them without the socket timeout)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        health_check_interval=30,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() disconnects it


@dataclass(frozen=True)
class Keys:
    prefix: str = "signage:"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def channel(self, name: str) -> str:
        return self.prefix + "events:" + name


# PUBLISH for every message argument, in order: one command and one reply per chunk.
_PUBLISH_ALL = """
local channel = ARGV[1]
for i = 2, #ARGV do
  redis.call('PUBLISH', channel, ARGV[i])
end
return #ARGV - 1
"""
PUBLISH_CHUNK = 500  # bounds how long one script holds the (single-threaded) server


async def publish_all(redis: aioredis.Redis, channel: str, messages: Sequence[bytes]) -> int:
    """Publish `messages` on `channel`, in order, each as its own pub/sub message.

    Why a script rather than a pipeline of PUBLISH: redis-py packs every command and parses
    every reply in Python, which made publishing a sweep's ~10,000 events cost more than the
    sweep's SQL. A script is one command per chunk; subscribers see exactly the same
    messages. The channel goes in ARGV: a channel is not a key.
    """
    script = redis.register_script(_PUBLISH_ALL)  # EVALSHA, loading it once if unknown
    published = 0
    for start in range(0, len(messages), PUBLISH_CHUNK):
        chunk = messages[start : start + PUBLISH_CHUNK]
        published += int(await script(args=[channel, *chunk]))
    return published
