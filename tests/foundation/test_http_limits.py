"""`http_common.server.LimitedHttpToolsProtocol` under a real uvicorn: the request head is
bounded (431), a request must arrive within the deadline (408: slow-loris heads and bodies),
while uploads that keep moving, websockets and ordinary requests are untouched.

The server runs in the test's event loop on a free port; clients are raw sockets, since the
point is what a misbehaving client sends. The deadline is 1 s here (HTTP_REQUEST_TIMEOUT_S is
30 by default); the tests wait for the server's answer, never assert durations.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
import websockets

from http_common.server import LimitedHttpToolsProtocol

MAX_HEAD = 2048
WAIT_S = 15.0


class OneSecondDeadline(LimitedHttpToolsProtocol):
    request_timeout_s = 1.0


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers the size of the body it read; echoes websocket messages."""
    if scope["type"] == "websocket":
        await receive()  # connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text")})
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def server() -> AsyncIterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        echo_app,
        http=OneSecondDeadline,
        ws="websockets-sansio",
        lifespan="off",
        log_level="warning",
        h11_max_incomplete_event_size=MAX_HEAD,
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve(sockets=[sock]))
    try:
        while not instance.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield port
    finally:
        instance.should_exit = True
        await task
        sock.close()


async def answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (or resets it after)."""
    received = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), WAIT_S):
            received += chunk
    except ConnectionError:
        pass
    return received


async def exchange(port: int, *parts: bytes, pause_s: float = 0.0) -> bytes:
    """Send `parts`, listening for `pause_s` between them, then read until the server closes.
    Once the server has answered, the client stops sending (more bytes after the server's
    close would make it reset the connection, and the answer would be lost)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        early = b""
        for part in parts:
            writer.write(part)
            await writer.drain()
            if pause_s:
                try:
                    early = await asyncio.wait_for(reader.read(65536), pause_s)
                except TimeoutError:
                    continue
                break
        return early + await answer(reader)
    finally:
        writer.close()


async def test_an_ordinary_request_is_served() -> None:
    async with server() as port:
        response = await exchange(
            port,
            b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"\r\n\r\n5")


async def test_a_head_over_the_limit_is_431_whole_or_in_pieces() -> None:
    big = b"X-Big: " + b"a" * (MAX_HEAD + 100) + b"\r\n"
    async with server() as port:
        whole = await exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n")
        # Never ending: the head grows past the limit while still incomplete.
        pieces = await exchange(
            port, b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ", *[b"b" * 1000] * 3, pause_s=0.05
        )
    for response in (whole, pieces):
        assert response.startswith(b"HTTP/1.1 431 Request Header Fields Too Large"), response


async def test_a_head_that_never_ends_is_408() -> None:
    async with server() as port:
        response = await exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: 1\r\n")
    assert response.startswith(b"HTTP/1.1 408 Request Timeout"), response


async def test_a_connection_that_sends_nothing_is_closed() -> None:
    async with server() as port:
        assert await exchange(port) == b""


async def test_a_body_that_never_ends_is_408() -> None:
    async with server() as port:
        response = await exchange(
            port, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789"
        )
    assert response.startswith(b"HTTP/1.1 408 Request Timeout"), response


async def test_an_upload_that_keeps_moving_outlasts_the_deadline() -> None:
    """Signed uploads (local storage) are large by design: each chunk restarts the clock."""
    head = b"PUT /v1/admin/uploads/k HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n"
    async with server() as port:
        response = await exchange(
            port, head + b"Connection: close\r\n\r\n", *[b"0123456789"] * 5, pause_s=0.6
        )
        # the same slow body anywhere else is a slow-loris
        slow = await exchange(
            port,
            head.replace(b"/v1/admin/uploads/k", b"/x") + b"\r\n",
            *[b"0123456789"] * 5,
            pause_s=0.6,
        )
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"\r\n\r\n50"), response
    assert slow.startswith(b"HTTP/1.1 408"), slow


async def test_a_websocket_outlives_the_request_deadline() -> None:
    async with server() as port, websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await asyncio.sleep(1.5)  # past the deadline the upgrade request had
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), WAIT_S) == "still here"
