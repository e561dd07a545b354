"""Backends out of reach, for the tests of what the edges answer then (503, never 500)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url

from core.bootstrap import Services, build_services


def closed_port() -> int:
    """A local port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def services_without_redis(services: Services) -> AsyncIterator[Services]:
    """`services`' settings and clock, with Redis pointed at a closed port."""
    settings = services.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{closed_port()}/0"}
    )
    broken = build_services(settings, clock=services.clock)
    try:
        yield broken
    finally:
        await broken.close()


class FrozenProxy:
    """A TCP proxy to a real server that can stop forwarding bytes, as a frozen (SIGSTOPped,
    partitioned) server looks to its clients: connections open, nothing ever answers.

    `freeze()` stops forwarding in both directions (bytes already read are held back) and
    `resume()` forwards again, held bytes first, on the same connections."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._running = asyncio.Event()
        self._running.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def freeze(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._running.wait()  # a frozen server does not complete new handshakes either
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._running.wait()
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sink.close()


@asynccontextmanager
async def frozen_proxy(target_url: str) -> AsyncIterator[tuple[FrozenProxy, str]]:
    """A `FrozenProxy` to the server of `target_url` (postgresql:// or redis://), and the same
    URL pointed at the proxy."""
    url = make_url(target_url)
    proxy = FrozenProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        await proxy.stop()


class SwitchableProxy:
    """A TCP proxy to a real server that can be cut like a dead or restarting server: `cut()`
    closes every open connection and refuses new ones (nothing listens on the port);
    `restore()` listens on the same port again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()
            self._writers.discard(sink)


@asynccontextmanager
async def switchable_proxy(target_url: str) -> AsyncIterator[tuple[SwitchableProxy, str]]:
    """A `SwitchableProxy` to the server of `target_url` (postgresql:// or redis://), and the
    same URL pointed at the proxy."""
    url = make_url(target_url)
    proxy = SwitchableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.restore()
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        await proxy.cut()
