"""Which PostgreSQL and Redis a command talks to: the configured URLs, else embedded servers.

Embedded servers are a development convenience only. In production mode a missing URL is a
configuration error (`Settings.ensure_safe` says so) and nothing is started behind the
operator's back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import Environment, Settings

if TYPE_CHECKING:
    from ops.embedded.watch import EmbeddedWatch, WatchedServer

EMBEDDED_DATABASE = "signage"


class ServiceUnavailable(RuntimeError):
    """No URL was configured and embedded servers may not or cannot start."""


@dataclass
class ResolvedServices:
    database_url: str
    redis_url: str
    embedded: list[str] = field(default_factory=list)
    _stops: list[Callable[[], None]] = field(default_factory=list)
    _servers: list[WatchedServer] = field(default_factory=list)

    def stop(self) -> None:
        """Stop embedded servers, Redis before PostgreSQL (reverse start order)."""
        self._servers.clear()
        while self._stops:
            self._stops.pop()()

    def watch(self, say: Callable[[str], None]) -> EmbeddedWatch:
        """What restarts the embedded servers should they die (watches nothing without any)."""
        from ops.embedded.watch import EmbeddedWatch

        return EmbeddedWatch(self._servers, say=say)


def resolve(settings: Settings, *, need_redis: bool = True) -> ResolvedServices:
    """URLs from the settings; embedded servers for the missing ones (not in production)."""
    database_url = settings.database_url
    redis_url = settings.redis_url
    missing = [
        name
        for name, url in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url))
        if not url and (name == "DATABASE_URL" or need_redis)
    ]
    if missing and settings.env is Environment.PRODUCTION:
        raise ServiceUnavailable(
            f"{' and '.join(missing)} must be set in production (no embedded servers)"
        )
    resolved = ResolvedServices(database_url=database_url or "", redis_url=redis_url or "")
    if not missing:
        return resolved

    from ops.embedded import EmbeddedServiceError, launch_postgres, launch_redis

    data_dir = settings.data_dir.resolve()
    try:
        if not database_url:
            postgres = launch_postgres(data_dir, database=EMBEDDED_DATABASE)
            resolved.database_url = postgres.url(EMBEDDED_DATABASE)
            resolved._stops.append(postgres.stop)
            resolved._servers.append(postgres)
            resolved.embedded.append("postgres")
        if not redis_url and need_redis:
            redis = launch_redis(data_dir)
            resolved.redis_url = redis.url()
            resolved._stops.append(redis.stop)
            resolved._servers.append(redis)
            resolved.embedded.append("redis")
    except EmbeddedServiceError as exc:
        resolved.stop()
        raise ServiceUnavailable(
            f"{exc}\n(is `signage up` running? then pass the DATABASE_URL/REDIS_URL it printed)"
        ) from exc
    except BaseException:
        resolved.stop()
        raise
    return resolved


@contextmanager
def services_for(settings: Settings, *, need_redis: bool = True) -> Iterator[ResolvedServices]:
    resolved = resolve(settings, need_redis=need_redis)
    try:
        yield resolved
    finally:
        resolved.stop()
