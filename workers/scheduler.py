"""The periodic scheduler: enqueues maintenance actors on fixed intervals.

It only enqueues; the work runs in the worker processes, so several schedulers would merely
enqueue duplicates, which idempotent actors tolerate. A Redis lock keeps it to one anyway.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq
import structlog

from core.config import get_settings
from core.logging import configure_logging

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float
    enqueue: Callable[[], object]


def jobs() -> list[Job]:
    from workers import actors, monitoring, planning, pop_maintenance

    return [
        Job("worker-self-check", 60, actors.heartbeat_self_check.send),
        Job("monitoring-sweep", monitoring.SWEEP_EVERY_S, monitoring.sweep_devices.send),
        Job(
            "pop-partitions",
            pop_maintenance.MAINTENANCE_EVERY_S,
            pop_maintenance.maintain_pop_partitions.send,
        ),
        Job("plan-horizon-roll", planning.ROLL_EVERY_S, planning.roll_plan_horizons.send),
    ]


def run(stop: threading.Event) -> None:
    due: dict[str, float] = {}
    schedule = jobs()
    while not stop.is_set():
        now = time.monotonic()
        for job in schedule:
            if due.get(job.name, 0.0) <= now:
                try:
                    job.enqueue()
                except dramatiq.errors.DramatiqError:
                    log.exception("enqueue failed", job=job.name)
                due[job.name] = now + job.every_s
        stop.wait(1.0)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("scheduler started")
    run(stop)
    log.info("scheduler stopped")


if __name__ == "__main__":
    main()
