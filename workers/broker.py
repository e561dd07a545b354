"""The Dramatiq broker, configured once before any actor module is imported.

Import `workers.broker` first (the actor modules do). Under tests, `SIGNAGE_BROKER=stub`
selects a StubBroker; otherwise the RedisBroker of `queueing.broker` is built from REDIS_URL,
namespaced by the Redis key prefix so deployments sharing a Redis don't steal each other's
messages. Processes that only send (the API) use `queueing` and never import this module.

Every wait on Redis is bounded by REDIS_TIMEOUT_S (connecting, and each reply), so a frozen
Redis turns an enqueue (the scheduler's, an edge's) into a TimeoutError instead of a hang.
That is safe for the workers too: Dramatiq's Redis consumer never blocks on the server (its
fetch is a Lua script that answers at once; it polls with client-side sleeps). There is one
attempt per command: the callers already retry (the scheduler with backoff, Dramatiq's
consumer threads every second), and a retry here would multiply the bound.

Each Dramatiq worker process sets up its logging when it boots (`ProcessLogging`): Dramatiq
has pointed its output at the pipe to the parent by then, so our lines travel that pipe.
It also stops when its leader dies (`workers.leader_watch.DieWithLeader`).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

import queueing.broker
from core.config import Settings, get_settings
from core.logging import configure_logging
from telemetry.tracing import configure_tracing
from workers.leader_watch import DieWithLeader
from workers.metrics import ActorMetrics


class ProcessLogging(dramatiq.Middleware):
    """LOG_LEVEL/LOG_JSON and redaction in every worker process (replacing Dramatiq's own
    format). Rendering stays on the calling thread: a worker process exits without running
    atexit hooks, so a listener thread could lose its last lines."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        settings = get_settings()
        configure_logging(settings.log_level, json=settings.log_json)


def redis_broker(settings: Settings) -> RedisBroker:
    """The shared RedisBroker (`queueing.broker`: bounded Redis waits, namespaced by the key
    prefix) with the worker processes' middleware."""
    broker = queueing.broker.redis_broker(settings)
    broker.add_middleware(ProcessLogging())
    broker.add_middleware(DieWithLeader())
    # First: Dramatiq runs the after_* hooks in reverse order, so its after_process_message
    # runs last, once Retries has decided whether a failure is retried or final.
    broker.add_middleware(ActorMetrics(), before=type(broker.middleware[0]))
    return broker


def make_broker() -> dramatiq.Broker:
    broker: dramatiq.Broker
    if queueing.broker.uses_stub_broker():
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        broker = redis_broker(get_settings())
    broker.add_middleware(AsyncIO())
    # Last: a retry's message carries the failed attempt's trace. In the scheduler, whose
    # main() configured tracing first, this only adds the middleware (its sends carry traces).
    if configure_tracing("worker"):
        from telemetry.tracing_dramatiq import TracingMiddleware

        broker.add_middleware(TracingMiddleware())
    return broker


broker = make_broker()
dramatiq.set_broker(broker)
