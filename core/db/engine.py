"""Engine construction: one asyncpg pool per process.

A pooled connection is checked for life when it is handed out, without a round trip: the
server closing it (a restart, `pg_terminate_backend`, an idle timeout) reaches asyncpg's
protocol as end-of-stream, and such a connection is replaced before use. SQLAlchemy's
`pool_pre_ping` did the same with three round trips per checkout (BEGIN, a ping, ROLLBACK:
its asyncpg dialect wraps the ping in a transaction for pgbouncer), i.e. more than the whole
statement work of an ordinary request.
"""

from __future__ import annotations

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


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # Statement parameters stay out of exception messages and logs: they carry token
        # hashes, claim codes and player input (core.logging redacts what it can recognise).
        hide_parameters=True,
        connect_args={"server_settings": {"application_name": "alive-signage"}},
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine
