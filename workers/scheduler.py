"""The periodic scheduler: enqueues maintenance actors on fixed intervals.

It only enqueues; the work runs in the worker processes. It must outlive its backends: if
it died with Redis, every monitoring sweep would stop and devices would stay "online"
forever. So the loop never exits on a failure:

- A backend out of reach (`core.backends.backend_unavailable`: Redis refused or lost, and
  PostgreSQL alike should a job ever touch it) is an outage: one warning when it starts,
  one info line when it ends, no traceback per attempt, and retries with capped
  exponential backoff and jitter (SCHEDULER_TICK_S doubling up to SCHEDULER_RETRY_MAX_S),
  so a fleet of schedulers does not hammer a Redis that is coming back.
- Anything else is a bug. A job whose enqueue raises one is logged with its traceback and
  counted as run, so it is tried again at its next interval rather than every tick; the
  other jobs go on. A bug outside any job (the leader lock, the schedule state) is logged
  with its traceback and retried after the same backoff as an outage.

Exactly one scheduler enqueues: several may run (a rolling deploy, `signage up` next to a
container), and each tick they race for a leader lock in Redis (SET NX PX with a random
token, via redis-py's `Lock`), which the leader renews every tick and releases when it
stops; a leader that died loses it after SCHEDULER_LEADER_TTL_S. When each job last ran is
kept in Redis too, in clock time (`core.clock`), so a new leader or a restarted scheduler
carries on the schedule instead of enqueueing every job at once. Actors stay idempotent:
a crash between an enqueue and its bookkeeping, or Redis restarting empty, enqueues a job
once more, never loses one.
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import redis
import structlog
from redis.backoff import NoBackoff
from redis.exceptions import LockError, LockNotOwnedError
from redis.retry import Retry

from core.backends import backend_unavailable
from core.clock import Clock, SystemClock
from core.config import Settings, get_settings
from core.logging import configure_logging
from telemetry.collectors import FleetCollector, QueueDepthCollector
from telemetry.process import ProcessMetrics, start_process_metrics
from telemetry.tracing import configure_tracing

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float
    actor: dramatiq.Actor[..., Any]


def jobs(settings: Settings | None = None) -> list[Job]:
    from workers import actors, monitoring, plans, proof_of_play

    settings = settings or get_settings()
    return [
        Job("worker-self-check", 60, actors.heartbeat_self_check),
        Job("monitoring-sweep", monitoring.SWEEP_EVERY_S, monitoring.sweep_devices),
        Job(
            "pop-partitions",
            proof_of_play.MAINTENANCE_EVERY_S,
            proof_of_play.maintain_pop_partitions,
        ),
        Job("plan-horizon-roll", plans.ROLL_EVERY_S, plans.roll_plan_horizons),
        Job(
            "plan-outbox-relay",
            settings.plan_outbox_relay_every_s,
            plans.relay_plan_changes,
        ),
        Job("plan-reconcile", settings.plan_reconcile_every_s, plans.reconcile_plans),
    ]


def redis_client(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """The scheduler's own Redis client: bounded waits (REDIS_TIMEOUT_S), and no retries of
    its own (the loop retries, with backoff, and logs the outage once)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


class Scheduler:
    """One scheduler's loop. `ticks` and `leading` are there for tests and logs."""

    def __init__(
        self,
        *,
        broker: dramatiq.Broker,
        redis_client: redis.Redis,
        key_prefix: str,
        schedule: Sequence[Job],
        clock: Clock,
        tick_s: float,
        retry_max_s: float,
        leader_ttl_s: float,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._broker = broker
        self._redis = redis_client
        self._schedule = list(schedule)
        self._clock = clock
        self._tick_s = tick_s
        self._retry_max_s = retry_max_s
        self._jitter = jitter
        self._last_run_key = f"{key_prefix}scheduler:last-run"
        self._lock = redis_client.lock(
            f"{key_prefix}scheduler:leader",
            timeout=leader_ttl_s,
            blocking=False,
            thread_local=False,
        )
        # Bound here, not at import: a logger caches its configuration on first use.
        self._log = structlog.get_logger(__name__)
        self.leading = False
        self.ticks = 0
        self._failures = 0
        self._outage_since: datetime | None = None

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set, then hand the leadership back."""
        try:
            while not stop.is_set():
                stop.wait(self.step())
        finally:
            self._resign()

    def step(self) -> float:
        """One tick; returns how long to wait before the next one."""
        try:
            self._tick()
        except Exception as exc:
            return self._failed(exc)
        finally:
            self.ticks += 1
        self._recovered()
        return self._tick_s

    def _tick(self) -> None:
        if not self._lead():
            return
        now = self._clock.now()
        last_run = {
            (key.decode() if isinstance(key, bytes) else key): float(value)
            for key, value in self._redis.hgetall(self._last_run_key).items()
        }
        for job in self._schedule:
            if last_run.get(job.name, float("-inf")) + job.every_s > now.timestamp():
                continue
            try:
                self._broker.enqueue(job.actor.message())
            except Exception as exc:
                if backend_unavailable(exc):
                    raise
                self._log.exception("scheduler job failed to enqueue", job=job.name)
            self._redis.hset(self._last_run_key, job.name, str(now.timestamp()))

    def _lead(self) -> bool:
        """Renew the leader lock if held, else try to take it (never waits)."""
        if self.leading:
            try:
                self._lock.reacquire()
            except LockNotOwnedError:
                self.leading = False
                self._log.warning("scheduler lost the leader lock")
        if not self.leading and self._lock.acquire(blocking=False):
            self.leading = True
            self._log.info("scheduler is the leader")
        return self.leading

    def _failed(self, exc: Exception) -> float:
        self._failures += 1
        base = min(self._retry_max_s, self._tick_s * 2.0 ** min(self._failures - 1, 30))
        delay = base / 2 + base / 2 * self._jitter()  # "equal jitter": never below half
        if not backend_unavailable(exc):
            self._log.exception("scheduler tick failed", retry_in_s=round(delay, 3))
        elif self._outage_since is None:
            self._outage_since = self._clock.now()
            self._log.warning(
                "scheduler backend unavailable, retrying",
                error=f"{type(exc).__name__}: {exc}",
                retry_in_s=round(delay, 3),
            )
        return delay

    def _recovered(self) -> None:
        if self._outage_since is not None:
            down = self._clock.now() - self._outage_since
            self._log.info(
                "scheduler backend available again",
                attempts=self._failures,
                outage_s=round(down / timedelta(seconds=1), 3),
            )
        self._outage_since = None
        self._failures = 0

    def _resign(self) -> None:
        if not self.leading:
            return
        self.leading = False
        try:
            self._lock.release()
        except LockError:
            pass  # expired or taken over meanwhile: nothing to hand back
        except Exception as exc:
            if not backend_unavailable(exc):
                raise
            self._log.warning("scheduler could not release the leader lock; it will expire")


def from_settings(settings: Settings, clock: Clock | None = None) -> Scheduler:
    from workers.broker import broker

    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: the scheduler needs Redis")
    return Scheduler(
        broker=broker,
        redis_client=redis_client(settings.redis_url, settings.redis_timeout_s),
        key_prefix=settings.redis_key_prefix,
        schedule=jobs(settings),
        clock=clock or SystemClock(),
        tick_s=settings.scheduler_tick_s,
        retry_max_s=settings.scheduler_retry_max_s,
        leader_ttl_s=settings.scheduler_leader_ttl_s,
    )


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    configure_tracing("scheduler")  # before workers.broker is imported (it would say "worker")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler = from_settings(settings)
    metrics = start_scheduler_metrics(settings)
    log.info("scheduler started")
    try:
        scheduler.run(stop)
    finally:
        metrics.stop()
    log.info("scheduler stopped")


def start_scheduler_metrics(settings: Settings) -> ProcessMetrics:
    """The scheduler's listener also answers for what is read at scrape time: the queues of
    every declared actor and the fleet (`telemetry.collectors`)."""
    from workers.broker import broker

    if not settings.metrics_enabled:
        return start_process_metrics(settings, "scheduler")
    jobs(settings)  # imports every actor module, so every queue is declared
    collectors = [
        QueueDepthCollector(settings, sorted(broker.get_declared_queues())),
        FleetCollector(settings),
    ]
    return start_process_metrics(settings, "scheduler", extra=collectors)


if __name__ == "__main__":
    main()
