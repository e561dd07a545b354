"""A request-body cap for /graphql: a legitimate operation is a few kilobytes, so anything
over MAX_REQUEST_BYTES is refused with 413 before it is parsed (or as soon as a chunked body
crosses the cap)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.refusals import request_error_body
from http_common.body_limit import BodyTooLarge, limited_receive


class BodyLimit:
    """ASGI middleware applying `http_common.body_limit` and answering 413 in the GraphQL
    request-error shape."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            receive_limited = limited_receive(scope, receive, self.max_bytes)
        except BodyTooLarge:
            await self._refuse(send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_limited, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = request_error_body(
            f"request body is larger than {self.max_bytes} bytes", "PAYLOAD_TOO_LARGE"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
