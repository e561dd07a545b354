"""The Dramatiq broker, configured once before any actor module is imported.

Import `workers.broker` first (the actor modules do). Under tests, `SIGNAGE_BROKER=stub`
selects a StubBroker; otherwise a RedisBroker is built from REDIS_URL, namespaced by the
Redis key prefix so deployments sharing a Redis don't steal each other's messages.

Each Dramatiq worker process sets up its logging when it boots (`ProcessLogging`): Dramatiq
has pointed its output at the pipe to the parent by then, so our lines travel that pipe.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from core.config import get_settings
from core.logging import configure_logging


class ProcessLogging(dramatiq.Middleware):
    """LOG_LEVEL/LOG_JSON and redaction in every worker process (replacing Dramatiq's own
    format). Rendering stays on the calling thread: a worker process exits without running
    atexit hooks, so a listener thread could lose its last lines."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        settings = get_settings()
        configure_logging(settings.log_level, json=settings.log_json)


def make_broker() -> dramatiq.Broker:
    broker: dramatiq.Broker
    if os.environ.get("SIGNAGE_BROKER") == "stub":
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        settings = get_settings()
        if not settings.redis_url:
            raise RuntimeError("REDIS_URL is not set: the worker needs Redis")
        broker = RedisBroker(
            url=settings.redis_url, namespace=settings.redis_key_prefix + "dramatiq"
        )
        broker.add_middleware(ProcessLogging())
    broker.add_middleware(AsyncIO())
    return broker


broker = make_broker()
dramatiq.set_broker(broker)
