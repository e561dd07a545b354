"""Requests refused before any operation runs answer JSON, like every other /graphql answer.

Why: a console or a script parses every /graphql answer as JSON. Strawberry's ASGI view answers
its own refusals (batch when batching is off, unparsable JSON, unsupported content type, no
query, a mutation over GET, an unknown `operationName`, GraphiQL in production) in plain text.
`request_error` gives them the GraphQL-over-HTTP shape of a request error: `errors` only, no
`data`, each with a machine-readable `extensions.code`; the status stays a 4xx.
"""

from __future__ import annotations

import json

from starlette.responses import Response

STATUS_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def request_error_body(message: str, code: str) -> bytes:
    return json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()


def unavailable_error(retry_after_s: int) -> Response:
    """A backend was out of reach before any operation could run (e.g. while checking the
    bearer token): 503 + Retry-After, with the code and delay an operation's error carries."""
    body = {
        "errors": [
            {
                "message": "a backend is briefly unavailable; retry later",
                "extensions": {"code": "UNAVAILABLE", "retryAfterSeconds": retry_after_s},
            }
        ]
    }
    return Response(
        json.dumps(body).encode(),
        status_code=503,
        media_type="application/json",
        headers={"Retry-After": str(retry_after_s)},
    )


def request_error(status: int, message: str, code: str | None = None) -> Response:
    body = request_error_body(message, code or STATUS_CODES.get(status, "BAD_REQUEST"))
    return Response(body, status_code=status, media_type="application/json")
