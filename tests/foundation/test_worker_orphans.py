"""Dramatiq worker processes do not outlive their leader.

`signage worker` runs for real against the real Redis; its leader is killed with SIGKILL
(it gets no chance to stop its workers) and the workers must stop by themselves. The
portable fallback (polling the parent pid, for systems without PR_SET_PDEATHSIG) is proved
the same way with a forked child of a throwaway leader.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from tests.harness import ServiceURLs
from tests.stack.process_support import server_env
from tests.stack.support import clean_env

pytestmark = pytest.mark.slow

BOOT_DEADLINE_S = 90.0
EXIT_DEADLINE_S = 20.0  # a liveness bound: the workers exit in about a second


def alive(pids: set[int]) -> set[int]:
    """The pids still running (an orphan's zombie, awaiting its reaper, counts as gone)."""
    living = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.add(pid)
        except psutil.NoSuchProcess:
            pass
    return living


def wait_until_gone(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + EXIT_DEADLINE_S
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def kill_all(pids: set[int]) -> None:
    for pid in alive(pids):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


@pytest.fixture
def redis_prefix_sync(service_urls: ServiceURLs) -> Iterator[str]:
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(service_urls.redis)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_worker_processes_stop_when_their_leader_is_killed(
    service_urls: ServiceURLs, redis_prefix_sync: str, tmp_path: Path
) -> None:
    env = server_env(service_urls.redis, tmp_path / "data", REDIS_KEY_PREFIX=redis_prefix_sync)
    stderr_path = tmp_path / "worker.stderr"
    with stderr_path.open("wb") as stderr:
        leader = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "worker", "--processes", "2", "--threads", "1"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + BOOT_DEADLINE_S
        while stderr_path.read_text().count("ready for action") < 2:
            assert leader.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, stderr_path.read_text()
            time.sleep(0.1)
        # `signage worker` replaced itself with Dramatiq's leader, which forked the workers.
        workers = {child.pid for child in psutil.Process(leader.pid).children()}
        assert len(workers) == 2, stderr_path.read_text()

        leader.send_signal(signal.SIGKILL)
        leader.wait()

        assert wait_until_gone(workers) == set(), stderr_path.read_text()
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
        kill_all(workers)


FALLBACK_LEADER = textwrap.dedent(
    """
    import multiprocessing
    import signal
    import sys
    import time
    from pathlib import Path

    from workers.leader_watch import watch_leader

    def worker(ready, marker):
        def stop(signum, frame):  # as Dramatiq's worker process: SIGTERM stops it
            Path(marker).write_text(signal.Signals(signum).name)
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        watch_leader(use_prctl=False, poll_s=0.1)
        ready.set()
        while True:
            time.sleep(0.1)

    if __name__ == "__main__":
        context = multiprocessing.get_context("fork")
        ready = context.Event()
        child = context.Process(target=worker, args=(ready, sys.argv[1]))
        child.start()
        assert ready.wait(60)
        print(child.pid, flush=True)
        time.sleep(600)
    """
)


def test_without_pdeathsig_a_worker_notices_its_new_parent_and_stops(tmp_path: Path) -> None:
    marker = tmp_path / "stopped-by"
    script = tmp_path / "leader.py"
    script.write_text(FALLBACK_LEADER)
    leader = subprocess.Popen(
        [sys.executable, str(script), str(marker)],
        env=clean_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    workers: set[int] = set()
    try:
        assert leader.stdout is not None
        workers = {int(leader.stdout.readline())}
        assert alive(workers) == workers

        leader.send_signal(signal.SIGKILL)
        leader.wait()

        assert wait_until_gone(workers) == set()
        assert marker.read_text() == "SIGTERM"
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()
        if leader.stdout is not None:
            leader.stdout.close()
        kill_all(workers)
