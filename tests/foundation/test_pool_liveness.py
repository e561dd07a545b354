"""A pooled connection the server closed is replaced before use, without a ping round trip.

`core.db.engine` dropped SQLAlchemy's `pool_pre_ping` (three round trips per checkout with
asyncpg) for a checkout hook that discards connections asyncpg already knows are closed.
This proves the guarantee the ping gave is kept: after the server ends a pooled connection
(as a restart or `pg_terminate_backend` does), the next unit of work still succeeds.
"""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.bootstrap import Services


async def _backend_pid(services: Services) -> int:
    async with services.uow() as uow:
        pid = (await uow.conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await uow.commit()
    return int(pid)


async def test_a_connection_the_server_closed_is_replaced_before_use(
    services: Services, database_url: str
) -> None:
    first = await _backend_pid(services)
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        for _ in range(500):  # until the backend is gone (its socket closed with it)
            gone = not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first
            )
            if gone:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let the event loop read the end of the stream
    finally:
        await admin.close()

    second = await _backend_pid(services)  # would raise on the closed connection

    assert second != first
