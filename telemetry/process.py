"""Turning metrics on for one process: its listener, its runtime sampler, its build info.

Each kind of process calls `start_process_metrics` once it owns its resources (the apps in
their lifespan, each Dramatiq worker process at boot, the scheduler at start) and `stop` on
the way out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Gauge
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from core.config import Settings
from telemetry.exposition import forget_this_process
from telemetry.listener import MetricsListener, start_listener
from telemetry.runtime import RuntimeSampler

BUILD_INFO = Gauge(
    "signage_build_info",
    "1 for each process kind running, labelled with the release it runs.",
    ["process", "version"],
    multiprocess_mode="max",
)


def release() -> str:
    try:
        return version("alive-signage")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@dataclass
class ProcessMetrics:
    listener: MetricsListener | None
    sampler: RuntimeSampler | None

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.listener is not None:
            self.listener.stop()
        forget_this_process()


def start_process_metrics(
    settings: Settings,
    kind: str,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    engine: AsyncEngine | None = None,
    redis: Redis | None = None,
    extra: Sequence[Collector] = (),
) -> ProcessMetrics:
    if not settings.metrics_enabled:
        return ProcessMetrics(None, None)
    BUILD_INFO.labels(kind, release()).set(1)
    sampler = RuntimeSampler(kind, loop=loop, engine=engine, redis=redis)
    sampler.start()
    return ProcessMetrics(start_listener(settings, kind, extra), sampler)
