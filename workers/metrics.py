"""Worker metrics: every actor's messages by outcome, their durations, and when each actor
last succeeded (what a "the sweep stopped running" alert needs), plus this kind's listener.

A Dramatiq middleware added before Dramatiq's defaults: Dramatiq runs the `after_*` hooks in
reverse order, so its `after_process_message` runs after the Retries middleware has decided:
a failed message that will be retried is `retried`, one that has used up its retries is
`failed`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from prometheus_client import Counter, Gauge, Histogram

from core.bootstrap import Services
from core.config import get_settings
from telemetry.process import ProcessMetrics, start_process_metrics

MESSAGES = Counter(
    "signage_actor_messages",
    "Dramatiq messages processed, by actor and outcome (succeeded, retried, failed).",
    ["actor", "outcome"],
)
DURATION = Histogram(
    "signage_actor_duration_seconds",
    "Time an actor took to process one message.",
    ["actor"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
LAST_SUCCESS = Gauge(
    "signage_actor_last_success_timestamp_seconds",
    "When the actor last processed a message successfully (Unix time).",
    ["actor"],
    multiprocess_mode="max",
)


# This worker process's metrics (one per process: set when Dramatiq boots it).
_process: ProcessMetrics | None = None


def watch(services: Services) -> None:
    """Sample the pools of this worker process's services, once `workers.runtime` has built
    them on the AsyncIO middleware's loop."""
    if _process is not None and _process.sampler is not None:
        _process.sampler.engine = services.engine
        _process.sampler.redis = services.redis
        _process.sampler.loop = asyncio.get_running_loop()


class ActorMetrics(dramatiq.Middleware):
    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        """Each worker process opens this kind's listener (SO_REUSEPORT) and samples its
        runtime; its services (the pools) are created later, on first use (`watch`)."""
        global _process
        _process = start_process_metrics(get_settings(), "worker")

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if _process is not None:
            _process.stop()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        with self._lock:
            self._started[message.message_id] = time.perf_counter()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        with self._lock:
            started = self._started.pop(message.message_id, None)
        actor = message.actor_name
        if started is not None:
            DURATION.labels(actor).observe(time.perf_counter() - started)
        if exception is None:
            MESSAGES.labels(actor, "succeeded").inc()
            LAST_SUCCESS.labels(actor).set(time.time())
        else:
            MESSAGES.labels(actor, "failed" if message.failed else "retried").inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        with self._lock:
            self._started.pop(message.message_id, None)
