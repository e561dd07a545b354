"""Parsing `Authorization: Bearer <token>`: one rule for both HTTP edges and the GraphQL
websocket's connection parameters."""

from __future__ import annotations

from core.security.tokens import InvalidToken

MALFORMED_MESSAGE = "the Authorization header must be `Bearer <token>`"


def bearer_token(value: str | None) -> str | None:
    """The token of an Authorization value; None when there is none at all (whether that is
    allowed is the caller's call); InvalidToken when it is not `Bearer <token>`. The scheme
    is case-insensitive (RFC 9110) and surrounding whitespace is ignored."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken(MALFORMED_MESSAGE)
    return token
