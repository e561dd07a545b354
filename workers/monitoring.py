"""The monitoring sweep as a periodic actor (the scheduler enqueues it every SWEEP_EVERY_S).

Thin and idempotent: it takes no arguments and judges the fleet at the worker's clock. A
redelivered or duplicated message runs a second sweep that finds nothing left to do (an
advisory lock makes overlapping sweeps skip). No retries: the next scheduled sweep is the
retry, and a message older than one interval is dropped rather than run late.
"""

from __future__ import annotations

import dramatiq
import structlog

import workers.broker  # noqa: F401 - the broker must be set before actors are declared
from core.monitoring.sweep import run_sweep
from workers.runtime import services

log = structlog.get_logger(__name__)

SWEEP_EVERY_S = 30
QUEUE = "monitoring"


@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=0,
    time_limit=60_000,
    max_age=SWEEP_EVERY_S * 2 * 1000,
)
async def sweep_devices() -> None:
    result = await run_sweep(await services())
    if not result.ran:
        log.info("monitoring sweep skipped: another one is running")
