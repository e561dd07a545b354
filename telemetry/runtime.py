"""Runtime figures of a process: connection pools in use and event-loop lag.

Sampled from a daemon thread every few seconds rather than on every checkout, so the hot
paths pay nothing. Event-loop lag is how long a callback handed to the loop waits before it
runs: a blocked loop (a slow synchronous call, a CPU-bound request) shows here first.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

from prometheus_client import Gauge, Histogram
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

DB_POOL = Gauge(
    "signage_db_pool_connections",
    "PostgreSQL connections of this process kind's pools, in use or idle.",
    ["process", "state"],
    multiprocess_mode="livesum",
)
REDIS_POOL = Gauge(
    "signage_redis_pool_connections",
    "Redis connections of this process kind's pools, in use or idle.",
    ["process", "state"],
    multiprocess_mode="livesum",
)
LOOP_LAG = Histogram(
    "signage_event_loop_lag_seconds",
    "How long a callback handed to the event loop waits before it runs.",
    ["process"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SAMPLE_EVERY_S = 5.0


def _redis_counts(client: Redis) -> tuple[int, int]:
    """(in use, idle) of redis-py's asyncio pool; its counters are not public API, so a pool
    that lacks them reports zeros rather than failing the sampler."""
    pool = client.connection_pool
    in_use = len(getattr(pool, "_in_use_connections", ()))
    idle = len(getattr(pool, "_available_connections", ()))
    return in_use, idle


@dataclass
class RuntimeSampler:
    process: str
    every_s: float = SAMPLE_EVERY_S
    loop: asyncio.AbstractEventLoop | None = None
    engine: AsyncEngine | None = None
    redis: Redis | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"runtime-metrics-{self.process}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def sample(self) -> None:
        if self.engine is not None:
            pool = self.engine.sync_engine.pool
            in_use = int(getattr(pool, "checkedout", lambda: 0)())
            idle = int(getattr(pool, "checkedin", lambda: 0)())
            DB_POOL.labels(self.process, "in_use").set(in_use)
            DB_POOL.labels(self.process, "idle").set(idle)
        if self.redis is not None:
            in_use, idle = _redis_counts(self.redis)
            REDIS_POOL.labels(self.process, "in_use").set(in_use)
            REDIS_POOL.labels(self.process, "idle").set(idle)
        if self.loop is not None and not self.loop.is_closed():
            handed = time.perf_counter()
            lag = LOOP_LAG.labels(self.process)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(lambda: lag.observe(time.perf_counter() - handed))

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sample()
            except Exception:  # noqa: S112 - figures must never take the process down
                continue
