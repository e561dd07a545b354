"""The Dramatiq broker for these settings, shared by the workers and the message producers.

A RedisBroker is namespaced by the Redis key prefix so deployments sharing a Redis don't steal
each other's messages. Every wait on Redis is bounded by REDIS_TIMEOUT_S (connecting, and each
reply), so a frozen Redis turns an enqueue into a TimeoutError instead of a hang; there is one
attempt per command, because the callers already retry and a retry here would multiply the
bound. Under tests `SIGNAGE_BROKER=stub` selects an in-memory StubBroker instead.
"""

from __future__ import annotations

import os
import threading

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.config import Settings
from telemetry.tracing import tracing_enabled

HEALTH_CHECK_INTERVAL_S = 30  # PING a connection idle this long before reusing it


def redis_broker(settings: Settings) -> RedisBroker:
    """The RedisBroker for these settings, every Redis wait bounded by REDIS_TIMEOUT_S.

    The pool is built here: given a `url`, RedisBroker builds its own pool from the URL alone
    and drops every other connection parameter."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set: the message broker needs Redis")
    pool = redis.ConnectionPool.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        retry=Retry(NoBackoff(), 0),
    )
    return RedisBroker(
        client=redis.Redis.from_pool(pool),  # owns the pool: close() disconnects it
        namespace=settings.redis_key_prefix + "dramatiq",
    )


def uses_stub_broker() -> bool:
    return os.environ.get("SIGNAGE_BROKER") == "stub"


def producer_broker(settings: Settings) -> dramatiq.Broker:
    """A broker to send with (no worker middleware): the stub under tests, else Redis. While
    tracing is on, each message carries the trace it was sent from."""
    broker = StubBroker() if uses_stub_broker() else redis_broker(settings)
    if tracing_enabled():
        from telemetry.tracing_dramatiq import TracingMiddleware

        broker.add_middleware(TracingMiddleware())
    return broker


class LazyBroker:
    """Builds its broker on first use, once, from any thread (sends run in worker threads)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._broker: dramatiq.Broker | None = None
        self._lock = threading.Lock()

    def get(self) -> dramatiq.Broker:
        with self._lock:
            if self._broker is None:
                self._broker = producer_broker(self._settings)
            return self._broker

    def close(self) -> None:
        with self._lock:
            if self._broker is not None:
                self._broker.close()
                self._broker = None
