"""Which failures mean "a backend is out of reach" rather than "this input is wrong".

The difference decides what a failure is worth: an unreachable PostgreSQL or Redis (pool
exhausted, connection refused or lost, server shutting down, too many connections) is
nobody's fault and fails every request alike, so the edge answers 503 and callers back off,
and retrying a batch piece by piece would only hammer a dead server. Any other failure may
belong to one input among many, which is worth isolating (`core.isolating`).
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]  # no stubs
import redis.exceptions
from sqlalchemy import exc as sa_exc

from core.errors import RETRY_AFTER_S

__all__ = ["BACKEND_UNAVAILABLE", "RETRY_AFTER_S", "backend_unavailable"]

BACKEND_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.TimeoutError,  # connection pool exhausted
    sa_exc.DisconnectionError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
    # Raised by asyncpg itself where the hot path uses the driver directly (heartbeats):
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and a connection already closed
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    # class 57: shutdown, "the database system is starting up", and statement_timeout
    # (QueryCanceledError, 57014): a server too slow to answer is as good as away.
    asyncpg.OperatorInterventionError,
)


def backend_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, BACKEND_UNAVAILABLE):
        return True
    # SQLAlchemy wraps driver errors; a connection that could not be made or was lost is
    # flagged as a disconnect, and the driver's own error is kept as `orig`.
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or (
            exc.orig is not None and backend_unavailable(exc.orig.__cause__ or exc.orig)
        )
    return False
