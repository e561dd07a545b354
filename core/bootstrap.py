"""The single place where infrastructure is wired together for one process.

Each entrypoint (admin API, device edge, workers, CLI) builds one `Services` at start-up and
closes it at shutdown; tests build their own against throwaway databases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock, SystemClock
from core.config import Settings
from core.db.engine import DbTimeouts, create_engine
from core.db.uow import UnitOfWork
from core.redis_client import Keys, create_redis
from core.storage import ObjectStorage
from core.storage.factory import create_storage


class MissingServiceURL(RuntimeError):
    pass


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    redis: aioredis.Redis
    keys: Keys
    storage: ObjectStorage
    clock: Clock = field(default_factory=SystemClock)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    async def close(self) -> None:
        await self.storage.aclose()
        await self.redis.aclose()
        await self.engine.dispose()


def db_timeouts(settings: Settings) -> DbTimeouts:
    return DbTimeouts(
        statement_ms=settings.db_statement_timeout_ms,
        connect_s=settings.db_connect_timeout_s,
        pool_s=settings.db_pool_timeout_s,
    )


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    if not settings.database_url:
        raise MissingServiceURL("DATABASE_URL is not set (`signage up` provides embedded ones)")
    if not settings.redis_url:
        raise MissingServiceURL("REDIS_URL is not set (`signage up` provides embedded ones)")
    return Services(
        settings=settings,
        engine=create_engine(settings.database_url, timeouts=db_timeouts(settings)),
        redis=create_redis(settings.redis_url, timeout_s=settings.redis_timeout_s),
        keys=Keys(settings.redis_key_prefix),
        storage=create_storage(settings),
        clock=clock or SystemClock(),
    )


# Each readiness check gets this long, and they run side by side, so /readyz answers within a
# second even when a backend is frozen: a probe that hangs is worse than one that says no.
READINESS_CHECK_TIMEOUT_S = 0.8


async def _bounded(name: str, check: Awaitable[dict[str, str]]) -> dict[str, str]:
    try:
        async with asyncio.timeout(READINESS_CHECK_TIMEOUT_S):
            return await check
    except TimeoutError:
        return {name: f"unreachable: no answer within {READINESS_CHECK_TIMEOUT_S}s"}
    except Exception as exc:
        return {name: f"unreachable: {type(exc).__name__}"}


async def _check_postgres(services: Services) -> dict[str, str]:
    from core.db.migrations import head_revision

    async with services.engine.connect() as conn:
        current = (
            await conn.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one_or_none()
    head = head_revision()
    return {
        "postgres": "ok",
        "migrations": "ok" if current == head else f"at {current}, head is {head}",
    }


async def _check_redis(services: Services) -> dict[str, str]:
    await services.redis.ping()
    return {"redis": "ok"}


async def readiness(services: Services) -> dict[str, str]:
    """Check PostgreSQL, Redis and the migration head; each value is "ok" or why not.
    Bounded: answers within about READINESS_CHECK_TIMEOUT_S whatever the backends do."""
    postgres, redis = await asyncio.gather(
        _bounded("postgres", _check_postgres(services)),
        _bounded("redis", _check_redis(services)),
    )
    result = {"postgres": postgres["postgres"], "migrations": postgres.get("migrations", "unknown")}
    result.update(redis)
    return result
