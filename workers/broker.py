"""The Dramatiq broker, configured once before any actor module is imported.

Import `workers.broker` first (the actor modules do). Under tests, `SIGNAGE_BROKER=stub`
selects a StubBroker; otherwise a RedisBroker is built from REDIS_URL, namespaced by the
Redis key prefix so deployments sharing a Redis don't steal each other's messages.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from core.config import get_settings


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
    broker.add_middleware(AsyncIO())
    return broker


broker = make_broker()
dramatiq.set_broker(broker)
