"""Backends out of reach, for the tests of what the edges answer then (503, never 500) and of
how they recover.

- `OutageProxy` sits between the app and a real server (PostgreSQL or Redis) and puts that
  server out of reach on demand: frozen, cut, or replaced by a stand-in.
- `StartingUpPostgres` is such a stand-in: it answers like a PostgreSQL server that is
  starting up or recovering (SQLSTATE 57P03), without touching the machine's server.
- `services_without_redis` and `closed_port` are the simplest outage: nothing listens.

The shared fixtures built on these are in tests/outage_fixtures.py.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url

from core.bootstrap import Services, build_services

T = TypeVar("T")

# Far above every timeout the outage tests configure: only a hang reaches it. Tests wrap
# each request in it so that a regression fails the test instead of stalling the suite.
HANG_GUARD_S = 15.0


async def answered(request: Awaitable[T]) -> T:
    """`request`'s result, or a TimeoutError if it hangs (a hang detector, not a timing
    assertion)."""
    async with asyncio.timeout(HANG_GUARD_S):
        return await request


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition`, state the test cannot await, until it holds (within the guard)."""
    async with asyncio.timeout(HANG_GUARD_S):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


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


class OutageProxy:
    """A TCP proxy to a real server, on a port that stays the same throughout, that makes the
    server look to its clients as it does in each kind of outage:

    - `freeze()`: a frozen server (SIGSTOPped, partitioned). Connections stay open and new
      ones are accepted, but nothing is forwarded either way; bytes already read are held.
    - `cut()`: a dead server. Every open connection is closed and new ones are refused
      (nothing listens on the port).
    - `divert(host, port)`: a restarted server that is not ready yet. Open connections are
      closed, as a restart closes them, and new ones reach a stand-in at host:port.
    - `restore()`: the server is back. New connections reach it again; connections that were
      frozen carry on, their held bytes first.
    """

    def __init__(self, target_url: str) -> None:
        """A proxy to the server of `target_url` (postgresql:// or redis://)."""
        self._target_url = make_url(target_url)
        default_port = 6379 if self._target_url.drivername.startswith("redis") else 5432
        self._origin = (self._target_url.host or "127.0.0.1", self._target_url.port or default_port)
        self._target = self._origin
        self.port = 0
        self._forwarding = asyncio.Event()
        self._forwarding.set()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The target URL pointed at the proxy (once started)."""
        proxied = self._target_url.set(host="127.0.0.1", port=self.port)
        return proxied.render_as_string(hide_password=False)

    async def start(self) -> None:
        await self._listen()

    async def freeze(self) -> None:
        self._forwarding.clear()

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._end_connections()

    async def divert(self, host: str, port: int) -> None:
        await self._end_connections()
        self._target = (host, port)
        self._forwarding.set()
        await self._listen()

    async def restore(self) -> None:
        self._target = self._origin
        self._forwarding.set()
        await self._listen()

    async def stop(self) -> None:
        await self.cut()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
            self.port = int(self._server.sockets[0].getsockname()[1])

    async def _end_connections(self) -> None:
        links = list(self._links)
        for link in links:
            link.cancel()
        await asyncio.gather(*links, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = asyncio.create_task(self._link(reader, writer))
        self._links.add(link)
        link.add_done_callback(self._links.discard)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            await self._forwarding.wait()  # a frozen server completes no handshake either
            try:
                up_reader, upstream = await asyncio.open_connection(*self._target)
            except OSError:
                return
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(up_reader, writer))
        finally:
            writer.close()
            if upstream is not None:
                upstream.close()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._forwarding.wait()
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()


@asynccontextmanager
async def outage_proxy(target_url: str) -> AsyncIterator[OutageProxy]:
    """A running `OutageProxy` to the server of `target_url`; connect to `proxy.url`."""
    proxy = OutageProxy(target_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


# PostgreSQL's wire protocol, as much as a server refusing every connection needs.
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
CANNOT_CONNECT_NOW = "57P03"


def _error_response(sqlstate: str, message: str) -> bytes:
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


class StartingUpPostgres:
    """A stand-in for a PostgreSQL server that is starting up or recovering: every connection
    attempt gets what the real server sends then, after the startup packet, a FATAL
    ErrorResponse with SQLSTATE 57P03 (cannot_connect_now), and is closed. Deterministic, and
    the machine's shared PostgreSQL is never restarted."""

    def __init__(self, message: str = "the database system is starting up") -> None:
        self.message = message
        self.port = 0
        self.refused = 0  # connection attempts answered so far
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # SSL and GSS encryption requests are declined, as by a plain server
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                packet = await reader.readexactly(length - 4)
                if struct.unpack("!I", packet[:4])[0] not in (_SSL_REQUEST, _GSSENC_REQUEST):
                    break
                writer.write(b"N")
                await writer.drain()
            writer.write(_error_response(CANNOT_CONNECT_NOW, self.message))
            await writer.drain()
            self.refused += 1
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def starting_up_postgres() -> AsyncIterator[StartingUpPostgres]:
    server = StartingUpPostgres()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def assert_unavailable(response: httpx.Response) -> None:
    """The device edge's answer to a backend outage: 503 `unavailable` with Retry-After."""
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "unavailable"


LOGIN_OUTCOME = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on Error { code message }
    ... on UnavailableError { retryAfterSeconds }
  }
}
"""


async def login_outcome(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    """The admin API's `login` result (AuthPayload or a typed error), within the hang guard;
    a top-level error fails the test."""
    response = await answered(
        client.post(
            "/graphql",
            json={"query": LOGIN_OUTCOME, "variables": {"email": email, "password": password}},
        )
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    result: dict[str, Any] = body["data"]["login"]
    return result


def assert_unavailable_result(result: dict[str, Any]) -> None:
    """A typed, retryable GraphQL error result."""
    assert result["__typename"] == "UnavailableError", result
    assert result["code"] == "UNAVAILABLE"
    assert result["retryAfterSeconds"] > 0
