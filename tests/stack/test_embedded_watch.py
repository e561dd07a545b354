"""An embedded server that dies is restarted in place, with its data, on the URL the
processes already hold; one that cannot start again is retried with backoff and then
given up, which makes `signage up` stop (tests/stack/test_up_restarts_embedded.py).

Real servers from the wheels, killed with SIGKILL. Only the backoff schedule runs on a
test clock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import redis

from ops.embedded import EmbeddedPostgres, EmbeddedRedis, launch_postgres, launch_redis
from ops.embedded.watch import MAX_FAILURES, EmbeddedWatch
from tests.stack.test_embedded import postmaster_pid, query, redis_pid

pytestmark = pytest.mark.slow

DEATH_DEADLINE_S = 20.0
BUSY = "SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 30) b"


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for its adoptive parent to reap it)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def kill_and_wait(server: EmbeddedPostgres | EmbeddedRedis, pid: int) -> None:
    """SIGKILL the server and wait until its owner can see it is gone."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + DEATH_DEADLINE_S
    while server.exit_code() is None:
        assert time.monotonic() < deadline, "the killed server still runs"
        time.sleep(0.05)


def test_a_killed_redis_comes_back_with_its_data(embedded_data_dir: Path) -> None:
    server = launch_redis(embedded_data_dir)
    said: list[str] = []
    try:
        watch = EmbeddedWatch([server], say=said.append)
        client = redis.Redis.from_url(server.url())
        client.set("kept", b"still here")
        client.close()
        first = redis_pid(embedded_data_dir)

        assert watch.check() is None and said == []  # running: nothing to do
        kill_and_wait(server, first)
        assert watch.check() is None

        assert said == ["embedded redis exited with -9; restarting it", "embedded redis restarted"]
        assert redis_pid(embedded_data_dir) != first
        client = redis.Redis.from_url(server.url())  # the same URL
        assert client.get("kept") == b"still here"
        client.close()
    finally:
        server.stop()


def test_a_killed_postgres_comes_back_even_with_a_busy_backend(embedded_data_dir: Path) -> None:
    server = launch_postgres(embedded_data_dir, database="watched")
    url = server.url("watched")
    said: list[str] = []
    busy: subprocess.Popen[bytes] | None = None
    try:
        watch = EmbeddedWatch([server], say=said.append)
        query(url, "CREATE TABLE kept (value text)", "INSERT INTO kept VALUES ('still here')")
        # A backend busy with a statement does not notice its postmaster's death, and a new
        # postmaster refuses to start while it runs (the statement_timeout bounds the test).
        psql = [str(server.bin / "psql"), "-h", str(server.socket_dir), "-U", "postgres"]
        busy = subprocess.Popen(
            [*psql, "-d", "watched", "-c", "SET statement_timeout = '120s'", "-c", BUSY],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        busy_pids: list[tuple[object, ...]] = []
        while not busy_pids:
            assert time.monotonic() < deadline, "the busy statement never started"
            busy_pids = query(
                url,
                "SELECT pid FROM pg_stat_activity"
                " WHERE state = 'active' AND query LIKE 'SELECT count(*) FROM generate_series(%'",
            )
        [(backend,)] = busy_pids
        assert isinstance(backend, int)

        kill_and_wait(server, postmaster_pid(embedded_data_dir))
        assert watch.check() is None

        assert said == [
            "embedded postgres exited with -9; restarting it",
            "embedded postgres restarted",
        ]
        assert query(url, "SELECT value FROM kept") == [("still here",)]
        assert not running(backend)  # ended, not left to finish its statement
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        server.stop()


@contextmanager
def redis_that_cannot_start(
    embedded_data_dir: Path,
) -> Iterator[tuple[EmbeddedRedis, Path, Path]]:
    """A running embedded Redis whose directory can be blocked by a file, so that restarting
    it fails until the directory is put back; restores the directory and stops the server
    whatever the test did. Yields (server, its directory, where the directory was moved)."""
    server = launch_redis(embedded_data_dir)
    directory = embedded_data_dir / "redis"
    moved = embedded_data_dir / "redis.moved"
    try:
        yield server, directory, moved
    finally:
        if moved.exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.unlink(missing_ok=True)
            moved.rename(directory)
        server.stop()


def block_directory(directory: Path, moved: Path) -> None:
    directory.rename(moved)
    directory.write_text("a file where the server's directory belongs")


def test_a_server_that_cannot_start_is_retried_with_backoff_then_given_up(
    embedded_data_dir: Path,
) -> None:
    clock = SteppedClock()
    said: list[str] = []
    with redis_that_cannot_start(embedded_data_dir) as (server, directory, moved):
        watch = EmbeddedWatch([server], say=said.append, monotonic=clock)
        kill_and_wait(server, redis_pid(embedded_data_dir))
        block_directory(directory, moved)

        assert watch.check() is None  # died: restarted at once, which fails
        assert said[0] == "embedded redis exited with -9; restarting it"
        assert said[1].startswith("embedded redis did not start: FileExistsError")
        assert said[1].endswith("restarting it in 1s")
        waits = [int(line.rsplit(" ", 1)[1].removesuffix("s")) for line in said[1:]]
        reason = None
        while reason is None:
            clock.advance(waits[-1] - 0.5)
            before = len(said)
            assert watch.check() is None and len(said) == before  # not due yet: no attempt
            clock.advance(0.5)
            reason = watch.check()
            if reason is None:
                waits.append(int(said[-1].rsplit(" ", 1)[1].removesuffix("s")))

        assert waits == [1, 2, 4, 8, 16][: MAX_FAILURES - 1]
        assert reason.startswith("embedded redis could not be restarted: FileExistsError")


def test_a_server_that_fails_to_start_is_retried_until_it_comes_back(
    embedded_data_dir: Path,
) -> None:
    clock = SteppedClock()
    said: list[str] = []
    with redis_that_cannot_start(embedded_data_dir) as (server, directory, moved):
        client = redis.Redis.from_url(server.url())
        client.set("kept", b"still here")
        client.close()
        watch = EmbeddedWatch([server], say=said.append, monotonic=clock)
        kill_and_wait(server, redis_pid(embedded_data_dir))
        block_directory(directory, moved)
        assert watch.check() is None
        assert said[-1].endswith("restarting it in 1s")

        directory.unlink()
        moved.rename(directory)  # the trouble is over
        clock.advance(1)
        assert watch.check() is None

        assert said[-1] == "embedded redis restarted"
        client = redis.Redis.from_url(server.url())
        assert client.get("kept") == b"still here"
        client.close()
