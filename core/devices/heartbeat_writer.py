"""Heartbeats of one process coalesced into set-based writes.

Thousands of players heartbeat every minute; writing each one with its own statement costs a
pool checkout, a round trip and a WAL flush per request. Through a Coalescer, one statement,
one Redis MGET and one COMMIT serve every heartbeat that arrived while earlier batches were
being written, and each caller still gets its answer only after its row is durable.

While batches follow each other the writer keeps its connections checked out, so a busy
process skips the pool's checkout, liveness ping and session set-up per batch; they go back
to the pool once nothing has been queued or running for LINGER_S. A kept connection the
server closed meanwhile (a restart) is dropped, not used: the first batch after the server
is back must succeed, not fail on the dead connection.

A device that appears twice goes into consecutive batches, in arrival order, so its
heartbeats apply in order and its status changes exactly once.

Failures stay with the heartbeat that caused them. A batch whose statement fails (one report
PostgreSQL, the driver or the JSON encoder refuses) is retried in halves, each part on a
healthy connection (the one that saw the failure is invalidated), until the offending
heartbeat fails alone and every other one of the batch is recorded and answered: the
statement is atomic, so a failed attempt left nothing to undo (and writing a heartbeat twice
is harmless). Halving, not one statement per member: one bad report in a batch of 500 costs
about 18 statements instead of 500, and the retries stop at a budget of a few bad reports
per batch (`core.devices.coalescing.isolating_budget`), so a failure that is everyone's
cannot turn one batch into a thousand statements. A backend out of reach (`core.backends`:
connection refused or lost, pool exhausted, PostgreSQL shutting down or out of connections,
Redis down) is not split at all: every heartbeat would fail alone just the same, so the whole
batch fails at once (503 on the edge) instead of knocking N more times on a dead server. A
batch that succeeds pays nothing for any of this: no extra work per request or per batch.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from core.backends import backend_unavailable
from core.bootstrap import Services
from core.devices.coalescing import Coalescer
from core.devices.heartbeat import (
    HeartbeatAck,
    HeartbeatReport,
    refused,
    release_telemetry_connection,
    telemetry_connection,
    telemetry_connection_closed,
    write_heartbeats,
)
from core.metrics import HEARTBEAT_BATCH_SIZE

Item = tuple[uuid.UUID, HeartbeatReport]
LINGER_S = 0.05  # idle time after which held connections go back to the pool

log = structlog.get_logger(__name__)


class HeartbeatWriter:
    """One per process and event loop (the edge keeps it in its context)."""

    def __init__(self, services: Services, *, max_batch: int = 500, max_in_flight: int = 2):
        self._services = services
        self._held: list[AsyncConnection] = []  # checked out, free between batches
        self._release_timer: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        self._coalescer: Coalescer[Item, HeartbeatAck] = Coalescer(
            self._write,
            max_batch=max_batch,
            max_in_flight=max_in_flight,
            distinct=self._key,
            on_idle=self._idle,
            isolate=self._isolatable,
        )

    @staticmethod
    def _key(item: Item) -> uuid.UUID:
        return item[0]

    @staticmethod
    def _isolatable(exc: Exception) -> bool:
        return not backend_unavailable(exc)

    @property
    def flushes(self) -> int:
        return self._coalescer.batches

    async def record(self, device_id: uuid.UUID, report: HeartbeatReport) -> HeartbeatAck:
        return await self._coalescer.submit((device_id, report))

    async def _write(self, batch: Sequence[Item]) -> list[HeartbeatAck | BaseException]:
        HEARTBEAT_BATCH_SIZE.observe(len(batch))
        conn = await self._connection()
        try:
            acks = await write_heartbeats(self._services, batch, conn=conn)
        except BaseException:
            # Maybe broken (and SQLAlchemy did not see the driver fail): never reuse it.
            await asyncio.shield(conn.invalidate())
            raise
        self._held.append(conn)
        return [acks.get(device) or refused(report) for device, report in batch]

    async def _connection(self) -> AsyncConnection:
        """A held connection, unless the server closed it while it was held (it restarted:
        using it would fail the batch although the server may be back), else a pooled one."""
        while self._held:
            conn = self._held.pop()
            if not await telemetry_connection_closed(conn):
                return conn
            await asyncio.shield(conn.invalidate())
        return await telemetry_connection(self._services)

    def _idle(self) -> None:
        """Nothing queued or running: release the connections unless work comes back soon
        (under load the writer goes idle between batches all the time)."""
        if self._release_timer is not None:
            self._release_timer.cancel()
        loop = asyncio.get_running_loop()
        self._release_timer = loop.call_later(LINGER_S, self._release_if_idle)

    def _release_if_idle(self) -> None:
        self._release_timer = None
        if not self._coalescer.idle or not self._held:
            return
        connections, self._held = self._held, []
        task = asyncio.get_running_loop().create_task(self._release(connections))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def close(self) -> None:
        """Give every held connection back now (at shutdown)."""
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        connections, self._held = self._held, []
        await self._release(connections)

    @staticmethod
    async def _release(connections: list[AsyncConnection]) -> None:
        for conn in connections:
            try:
                await release_telemetry_connection(conn)
            except Exception as exc:  # already invalidated (e.g. the engine was disposed)
                log.info("heartbeat connection dropped instead of released", error=repr(exc))
