"""Keeping the embedded servers up while `signage up` runs.

The processes of the stack already live through an outage of PostgreSQL or Redis (they
answer 503, retry, reconnect). So when an embedded server dies under them (killed, crashed,
OOM), the supervisor starts it again on the same directory and socket, and the URLs the
processes hold work again; nothing else is restarted.

A server that will not stay up is retried with exponential backoff (1 s doubling, at most
RETRY_MAX_S). Every death and every failed start counts; a server that stayed up for
STABLE_S is forgiven its past. After MAX_FAILURES in a row the watch gives up and says why,
and the supervisor stops the whole stack with a non-zero exit, as it does when one of its
own processes dies: a development stack that cannot keep its database is better stopped
loudly than left half alive.

`check()` runs on the supervisor's loop, the one thread that also stops the servers at the
end, so a restart never races the shutdown. A restart blocks that loop until the server is
ready (or its start fails); signals meanwhile are acted on right after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ops.embedded.base import EmbeddedServiceError

MAX_FAILURES = 6
RETRY_MAX_S = 30.0
STABLE_S = 60.0


class WatchedServer(Protocol):
    @property
    def name(self) -> str: ...

    def exit_code(self) -> int | None: ...

    def restart(self) -> None: ...


@dataclass
class _State:
    failures: int = 0
    retry_at: float | None = None  # set while the server is down
    up_since: float = 0.0


class EmbeddedWatch:
    def __init__(
        self,
        servers: Sequence[WatchedServer],
        *,
        say: Callable[[str], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._servers = list(servers)
        self._say = say
        self._now = monotonic
        start = monotonic()
        self._states = {id(server): _State(up_since=start) for server in self._servers}

    def check(self) -> str | None:
        """Notice dead servers and restart those that are due. Returns why the watch gives
        up on a server (the stack should stop), or None while all is well or in hand."""
        for server in self._servers:
            reason = self._check_one(server, self._states[id(server)])
            if reason is not None:
                return reason
        return None

    def _check_one(self, server: WatchedServer, state: _State) -> str | None:
        now = self._now()
        if state.retry_at is None:
            code = server.exit_code()
            if code is None:
                if state.failures and now - state.up_since >= STABLE_S:
                    state.failures = 0
                return None
            state.failures += 1
            if state.failures > MAX_FAILURES:
                return f"embedded {server.name} died again ({state.failures} times in a row)"
            delay = self._delay(state.failures)
            self._say(f"embedded {server.name} exited with {code}; {self._when(delay)}")
            state.retry_at = now + delay
        if now < state.retry_at:
            return None
        try:
            server.restart()
        except Exception as exc:  # whatever keeps it down (its own error, the disk): retry
            state.failures += 1
            if state.failures > MAX_FAILURES:
                return f"embedded {server.name} could not be restarted: {_describe(exc)}"
            delay = self._delay(state.failures)
            said = f"embedded {server.name} did not start: {_summary(exc)}; {self._when(delay)}"
            self._say(said)
            state.retry_at = self._now() + delay
            return None
        state.retry_at = None
        state.up_since = self._now()
        self._say(f"embedded {server.name} restarted")
        return None

    @staticmethod
    def _delay(failures: int) -> float:
        """No wait for the first restart, then 1 s doubling up to RETRY_MAX_S."""
        return 0.0 if failures <= 1 else min(RETRY_MAX_S, 2.0 ** (failures - 2))

    @staticmethod
    def _when(delay: float) -> str:
        return "restarting it" if delay == 0 else f"restarting it in {delay:.0f}s"


def _describe(exc: Exception) -> str:
    """EmbeddedServiceError says what failed (with the server's log); others need a name."""
    if isinstance(exc, EmbeddedServiceError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _summary(exc: Exception) -> str:
    """One line: the first (what failed) and the last (the server's last word, if any)."""
    lines = [line.strip() for line in _describe(exc).splitlines() if line.strip()]
    return " ".join(lines[:1] + lines[1:][-1:])
