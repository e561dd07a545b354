"""Request body limits, enforced before anything parses the body: the one rule both HTTP
edges use (the device edge per route, the admin API for /graphql).

A declared Content-Length over the limit is refused before a byte is read; a chunked body
is counted while it streams and refused as soon as it crosses the limit. Each edge turns
`BodyTooLarge` into its own 413 body.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope

from core.errors import PayloadTooLarge


class BodyTooLarge(PayloadTooLarge):
    """The request body is over the limit (a PayloadTooLarge, so edges map it as one)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes", details={"max_bytes": limit})
        self.limit = limit


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number, None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limited_receive(scope: Scope, receive: Receive, limit: int) -> Receive:
    """`receive` that raises BodyTooLarge once the body exceeds `limit` bytes; raises at once
    when the declared Content-Length already does."""
    length = declared_length(scope)
    if length is not None and length > limit:
        raise BodyTooLarge(limit)
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_limited
