"""`signage up` watches its embedded servers: a redis-server or postmaster killed with SIGKILL
is started again in place, and the stack's processes carry on (same pids) and reconnect.

The real stack on the embedded defaults, as `make run` starts it (see test_make_run.py).
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from tests.stack.test_embedded import postmaster_pid, redis_pid
from tests.stack.test_make_run import (
    STOP_TIMEOUT_S,
    Stack,
    alive,
    printed_url,
    record_pids,
    start,
    stop_with_sigint,
    wait_ready,
)

pytestmark = pytest.mark.slow

RESTART_DEADLINE_S = 90.0
ROUND_TRIP_DEADLINE_S = 60.0


def wait_for_line(stack: Stack, line: str) -> None:
    deadline = time.monotonic() + RESTART_DEADLINE_S
    while line not in stack.output():
        assert stack.process.poll() is None, f"signage up exited:\n{stack.output()}"
        assert time.monotonic() < deadline, f"no {line!r}:\n{stack.output()}"
        time.sleep(0.2)


def started_pids(stack: Stack) -> set[int]:
    return {int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", stack.output())}


def worker_round_trip(redis_url: str) -> None:
    """Enqueue the worker's self-check by hand and wait for the key it writes."""
    key = "signage:worker:last_self_check"
    client = redis.Redis.from_url(redis_url)
    broker = RedisBroker(url=redis_url, namespace="signage:dramatiq")
    try:
        client.delete(key)
        broker.declare_queue("maintenance")
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name="maintenance",
            actor_name="heartbeat_self_check",
            args=(),
            kwargs={},
            options={},
        )
        broker.enqueue(message)
        deadline = time.monotonic() + ROUND_TRIP_DEADLINE_S
        while client.get(key) is None:
            assert time.monotonic() < deadline, "the worker never ran the self-check"
            time.sleep(0.2)
    finally:
        broker.client.close()
        client.close()


@pytest.fixture
def stacks() -> Any:
    started: list[Stack] = []
    yield started
    for stack in started:
        if stack.process.poll() is None:
            stack.process.send_signal(signal.SIGINT)
            try:
                stack.process.wait(timeout=STOP_TIMEOUT_S)
            except Exception:
                stack.process.kill()
                stack.process.wait()
        for pid in alive(stack.pids):
            os.kill(pid, signal.SIGKILL)


def test_signage_up_restarts_killed_embedded_servers_and_keeps_its_processes(
    embedded_data_dir: Path, tmp_path: Path, stacks: list[Stack]
) -> None:
    stack = start(embedded_data_dir, tmp_path, tmp_path / "up.log")
    stacks.append(stack)
    wait_ready(stack)
    record_pids(stack, embedded_data_dir)
    processes = started_pids(stack)
    redis_url = printed_url(stack, "Redis")

    os.kill(redis_pid(embedded_data_dir), signal.SIGKILL)
    wait_for_line(stack, "signage: embedded redis restarted")
    stack.pids.add(redis_pid(embedded_data_dir))

    os.kill(postmaster_pid(embedded_data_dir), signal.SIGKILL)
    wait_for_line(stack, "signage: embedded postgres restarted")
    stack.pids.add(postmaster_pid(embedded_data_dir))

    wait_ready(stack)  # both edges answer /readyz 200 again: they reconnected
    worker_round_trip(redis_url)  # the worker consumes from the restarted Redis
    assert alive(processes) == processes, stack.output()  # no process was restarted
    assert "stopping the stack" not in stack.output()

    assert stop_with_sigint(stack) == 0, stack.output()
    assert alive(stack.pids) == set(), stack.output()
