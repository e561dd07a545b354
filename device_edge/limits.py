"""Request body limits per route, enforced before anything parses the body (413).

A declared Content-Length over the limit is refused before a byte is read; a chunked body
is counted while it streams and refused as soon as it crosses the limit. The process-wide
MAX_REQUEST_BYTES setting caps every route's own limit.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope

from core.errors import PayloadTooLarge

KIB = 1024
MIB = 1024 * KIB

SMALL_BODY_LIMIT = 16 * KIB  # pairing and token requests
DEFAULT_BODY_LIMIT = 64 * KIB  # heartbeats and other telemetry
EVENTS_BODY_LIMIT = 1 * MIB  # proof-of-play batches (issue 6)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body is larger than {limit} bytes", details={"max_bytes": limit}
    )


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limited_receive(scope: Scope, receive: Receive, limit: int) -> Receive:
    """`receive` that raises PayloadTooLarge once the body exceeds `limit` bytes."""
    length = declared_length(scope)
    if length is not None and length > limit:
        raise too_large(limit)
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return receive_limited
