"""The Dramatiq broker's Redis waits are bounded by REDIS_TIMEOUT_S: an enqueue to a frozen
Redis (connections open, nothing answers) fails instead of hanging its caller forever.

The frozen Redis is a real one, private to the test (the embedded redis-server), stopped
with SIGSTOP once the broker holds a connection to it: the connection stays open and no
byte ever comes back.

redis-py before 8 waited for that reply forever; redis-py 8 gives up after its own default
of 5 s, whatever REDIS_TIMEOUT_S says. So the send gets a join timeout far above the
setting and below that default: only the configured bound can end it in time."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis

from core.config import Settings
from ops.embedded import start_embedded_redis
from workers.broker import redis_broker

pytestmark = pytest.mark.slow

TIMEOUT_S = 0.2
JOIN_S = 4.5  # 20 times the setting; redis-py's own default (5 s) would not end it in time


def message(queue: str) -> dramatiq.Message[Any]:
    return dramatiq.Message(queue_name=queue, actor_name="noop", args=(), kwargs={}, options={})


@contextmanager
def private_redis() -> Iterator[tuple[str, int]]:
    """A redis-server of our own (URL, pid), so freezing it disturbs no other test."""
    root = Path(tempfile.mkdtemp(prefix="signage-broker-"))
    url, stop = start_embedded_redis(root / "data")
    pid = int((root / "data" / "redis" / "redis.pid").read_text().strip())
    try:
        yield url, pid
    finally:
        os.kill(pid, signal.SIGCONT)
        stop()
        shutil.rmtree(root, ignore_errors=True)


def enqueue_in_thread(broker: dramatiq.Broker) -> BaseException | None:
    """Enqueue on a daemon thread (a hang must not hold the test run); what it raised."""
    raised: list[BaseException] = []

    def send() -> None:
        try:
            broker.enqueue(message("default"))
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    thread.join(JOIN_S)
    assert not thread.is_alive(), f"the enqueue still waits after {JOIN_S} s"
    return raised[0] if raised else None


def test_an_enqueue_to_a_frozen_redis_fails_within_the_timeout(settings: Settings) -> None:
    with private_redis() as (url, pid):
        broker = redis_broker(
            settings.model_copy(update={"redis_url": url, "redis_timeout_s": TIMEOUT_S})
        )
        try:
            broker.declare_queue("default")
            assert enqueue_in_thread(broker) is None  # connected, and the pool keeps it
            os.kill(pid, signal.SIGSTOP)
            assert isinstance(enqueue_in_thread(broker), redis.TimeoutError)
        finally:
            broker.client.close()


def test_the_broker_takes_the_timeout_from_the_settings(settings: Settings) -> None:
    broker = redis_broker(settings.model_copy(update={"redis_timeout_s": 2.5}))
    try:
        kwargs = broker.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 2.5
        assert kwargs["health_check_interval"] > 0
    finally:
        broker.client.close()
