"""A real admin API under uvicorn, with chosen settings, for websocket tests.

`live_console(services, WS_MAX_CONNECTIONS_PER_USER="2", ...)` serves `create_app` with the
test's Services (so the clock, database and Redis are shared with the test) and settings
overridden by environment-variable name; it yields the `ws://.../graphql` URL. `open_socket`
opens a graphql-transport-ws client (tests.graphql_api.test_monitoring_subscriptions'
`GraphQLSocket`) and, given a token, acknowledges `connection_init`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from core.bootstrap import Services
from core.config import Settings
from graphql_api.app import create_app
from tests.graphql_api.helpers import serve
from tests.graphql_api.test_monitoring_subscriptions import TRANSPORT_WS, WAIT_S, GraphQLSocket


def settings_with(services: Services, **overrides: str) -> Settings:
    return Settings.model_validate({**services.settings.model_dump(by_alias=True), **overrides})


@asynccontextmanager
async def live_console(services: Services, **overrides: str) -> AsyncIterator[str]:
    app = create_app(
        services=dataclasses.replace(services, settings=settings_with(services, **overrides))
    )
    async with serve(app) as host:
        yield f"ws://{host}/graphql"


@asynccontextmanager
async def open_socket(
    url: str, token: str | None = None, *, origin: str | None = None
) -> AsyncIterator[GraphQLSocket]:
    async with connect(
        url,
        subprotocols=[TRANSPORT_WS],
        origin=Origin(origin) if origin is not None else None,
    ) as ws:
        client = GraphQLSocket(ws)
        if token is not None:
            ack = await client.init({"authorization": f"Bearer {token}"})
            assert ack["type"] == "connection_ack", ack
        yield client


async def close_code(client: GraphQLSocket) -> int | None:
    """Read until the server closes the socket; the close code it sent (or None if it is
    still open after WAIT_S). Messages received meanwhile fail the test."""
    try:
        async with asyncio.timeout(WAIT_S):
            message: Any = await client.ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    except TimeoutError:
        return None
    raise AssertionError(f"expected the socket to close, got {message!r}")


async def query(
    client: GraphQLSocket, op_id: str, document: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run a query or mutation over the socket; its answer (`next`, then `complete`, which
    is consumed) or its `error`."""
    await client.subscribe(op_id, document, variables)
    message = await client.receive()
    assert message.get("id") == op_id, message
    if message["type"] == "next":
        assert await client.receive() == {"id": op_id, "type": "complete"}
    return message
