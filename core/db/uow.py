"""The unit of work: one transaction per use case.

It rolls back unless `commit()` is called, so a service that raises halfway leaves nothing
behind. Side effects that must only happen once the data is durable (publishing a status
event, enqueueing plan regeneration) are registered with `after_commit` and run after COMMIT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._after_commit: list[AfterCommit] = []
        self.committed = False

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._conn

    async def __aenter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("UnitOfWork is not re-entrant")
        self._conn = await self._engine.connect()
        await self._conn.begin()
        self.committed = False
        self._after_commit = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            await conn.close()
        if self.committed and exc_type is None:
            hooks, self._after_commit = self._after_commit, []
            for hook in hooks:
                try:
                    await hook()
                except Exception:  # a side effect must not undo a durable commit
                    log.exception("after_commit hook failed")

    async def commit(self) -> None:
        await self.conn.commit()
        self.committed = True

    async def rollback(self) -> None:
        await self.conn.rollback()

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)


UnitOfWorkFactory = Callable[[], UnitOfWork]
