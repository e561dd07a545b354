"""Dramatiq worker processes stop when their leader dies.

`dramatiq` (our `workers.dramatiq_main`) is a leader process that forks the worker processes
and relays their output. Stopped normally, it stops them. Killed with SIGKILL (the OOM killer,
`kill -9`, a crashed supervisor), it cannot, and its workers used to carry on: orphans that
keep consuming jobs with nobody relaying their logs, outside any supervisor's view, and next
to the workers of the leader that replaces it.

So each worker process asks to be told when its leader dies, and then stops the way the
leader would have stopped it: with one SIGTERM, which Dramatiq's worker process handles by
finishing its current jobs (up to --worker-shutdown-timeout) and exiting.

- On Linux the kernel tells it (prctl PR_SET_PDEATHSIG), at once. Not with SIGTERM itself:
  the kernel signals again each time another thread of the dying leader exits (the orphan
  is handed from thread to thread), and a second SIGTERM is Dramatiq's "kill now", which
  with the AsyncIO middleware's (non-daemon) loop thread hangs the process for good. The
  kernel sends LEADER_GONE instead, and its handler sends the one SIGTERM.
- Elsewhere a daemon thread polls `os.getppid()` once a second: an orphan is adopted by
  another process, so a changed parent means the leader is gone.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading

import dramatiq
import structlog

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1
LEADER_GONE = signal.SIGUSR2  # Dramatiq's worker processes leave it alone
POLL_S = 1.0


class DieWithLeader(dramatiq.Middleware):
    """Runs in every worker process as it boots (Dramatiq emits `process_boot` there)."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        watch_leader()


def watch_leader(*, use_prctl: bool = True, poll_s: float = POLL_S) -> None:
    """SIGTERM this process, once, when the process that forked it dies.

    Does nothing outside a multiprocessing child (a broker built in the leader or a test)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    stop = _StopOnce(parent.pid)
    kernel_watches = use_prctl and _kernel_signals_on_parent_death(stop)
    if os.getppid() != parent.pid:  # the leader died before the watch was in place
        stop()
    elif not kernel_watches:
        threading.Thread(
            target=_poll_parent, args=(stop, poll_s), name="leader-watch", daemon=True
        ).start()


class _StopOnce:
    """Sends this process one SIGTERM, however often it is called and from where."""

    def __init__(self, leader: int) -> None:
        self.leader = leader
        self._once = threading.Lock()  # taken once, never released

    def __call__(self) -> None:
        if not self._once.acquire(blocking=False):
            return
        log.warning("dramatiq leader is gone; stopping this worker process", leader_pid=self.leader)
        os.kill(os.getpid(), signal.SIGTERM)


def _kernel_signals_on_parent_death(stop: _StopOnce) -> bool:
    """PR_SET_PDEATHSIG: LEADER_GONE when the leader's thread that forked us exits (and again
    for each of its threads that inherit us). True when the kernel took the request.

    Signal handlers can only be set on the main thread, where Dramatiq boots its workers."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return False
    signal.signal(LEADER_GONE, lambda signum, frame: stop())
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, LEADER_GONE, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _poll_parent(stop: _StopOnce, poll_s: float) -> None:
    tick = threading.Event()
    while not tick.wait(poll_s):
        if os.getppid() != stop.leader:
            stop()
            return
