"""Engine construction: one asyncpg pool per process.

A pooled connection is checked for life when it is handed out, without a round trip: the
server closing it (a restart, `pg_terminate_backend`, an idle timeout) reaches asyncpg's
protocol as end-of-stream, and such a connection is replaced before use. SQLAlchemy's
`pool_pre_ping` did the same with three round trips per checkout (BEGIN, a ping, ROLLBACK:
its asyncpg dialect wraps the ping in a transaction for pgbouncer), i.e. more than the whole
statement work of an ordinary request.

Every wait on PostgreSQL is bounded (`DbTimeouts`), so a frozen or unreachable server costs a
request a few seconds and then a "backend unavailable" error (503 on the edge) instead of a
hang: connecting, waiting for a pooled connection, and running a statement. The statement
bound is enforced twice: by the server (`statement_timeout`, which also cancels the work
there) and by the client (asyncpg's `command_timeout`, a little longer), because a server that
stopped answering never reports its own timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """Accept plain postgres URLs and return the asyncpg dialect form."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout hook: a connection the server has closed is discarded, and the pool
    hands out another (SQLAlchemy's documented pessimistic disconnect handling)."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this connection")


# Time the client grants beyond the server's statement_timeout before it gives up itself:
# enough for the server's own cancellation to arrive first when the server is alive.
_CLIENT_MARGIN_S = 1.0


@dataclass(frozen=True)
class DbTimeouts:
    """How long one request may wait on PostgreSQL (core.config's DB_* settings).

    `statement_ms` 0 means no statement bound: for migrations and `signage pop-rebuild`,
    whose statements may legitimately run for minutes.
    """

    statement_ms: int = 15_000
    connect_s: float = 5.0
    pool_s: float = 5.0

    @classmethod
    def unbounded_statements(cls, base: DbTimeouts | None = None) -> DbTimeouts:
        base = base or cls()
        return cls(statement_ms=0, connect_s=base.connect_s, pool_s=base.pool_s)

    def connect_args(self) -> dict[str, Any]:
        server_settings = {
            "application_name": "alive-signage",
            "statement_timeout": str(self.statement_ms),
        }
        args: dict[str, Any] = {"server_settings": server_settings, "timeout": self.connect_s}
        if self.statement_ms:
            args["command_timeout"] = self.statement_ms / 1000 + _CLIENT_MARGIN_S
        return args


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    timeouts: DbTimeouts | None = None,
) -> AsyncEngine:
    timeouts = timeouts or DbTimeouts()
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=timeouts.pool_s,
        # Statement parameters stay out of exception messages and logs: they carry token
        # hashes, claim codes and player input (core.logging redacts what it can recognise).
        hide_parameters=True,
        connect_args=timeouts.connect_args(),
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine
