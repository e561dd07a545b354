"""The single place where infrastructure is wired together for one process.

Each entrypoint (admin API, device edge, workers, CLI) builds one `Services` at start-up and
closes it at shutdown; tests build their own against throwaway databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import Clock, SystemClock
from core.config import Settings
from core.db.engine import create_engine
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


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    if not settings.database_url:
        raise MissingServiceURL("DATABASE_URL is not set (`signage up` provides embedded ones)")
    if not settings.redis_url:
        raise MissingServiceURL("REDIS_URL is not set (`signage up` provides embedded ones)")
    return Services(
        settings=settings,
        engine=create_engine(settings.database_url),
        redis=create_redis(settings.redis_url),
        keys=Keys(settings.redis_key_prefix),
        storage=create_storage(settings),
        clock=clock or SystemClock(),
    )


async def readiness(services: Services) -> dict[str, str]:
    """Check PostgreSQL, Redis and the migration head; each value is "ok" or why not."""
    from core.db.migrations import head_revision

    result: dict[str, str] = {}
    try:
        async with services.engine.connect() as conn:
            current = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
        head = head_revision()
        result["postgres"] = "ok"
        result["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    except Exception as exc:
        result["postgres"] = f"unreachable: {type(exc).__name__}"
        result["migrations"] = "unknown"
    try:
        await services.redis.ping()
        result["redis"] = "ok"
    except Exception as exc:
        result["redis"] = f"unreachable: {type(exc).__name__}"
    return result
