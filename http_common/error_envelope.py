"""The one JSON error envelope of the REST routes (device edge, storage routes, CSV export):

    {"error": {"code": "<machine-readable>", "message": "<for people>", "details": {...}?}}

Clients branch on `code`, never on the message or the status alone. (/graphql answers in
the GraphQL-over-HTTP shape instead: `graphql_api.refusals`.)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from core.errors import DomainError


def _default(value: Any) -> Any:
    """orjson only knows exact uuid.UUID; asyncpg returns its own UUID subclass."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = dict(details)
    return Response(
        orjson.dumps({"error": body}, default=_default, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def domain_error_details(exc: DomainError) -> dict[str, Any]:
    """The error's details, plus the field at fault when it names one."""
    details = dict(exc.details)
    if exc.field and "field" not in details:
        details["field"] = exc.field
    return details


def domain_error_response(exc: DomainError, headers: Mapping[str, str] | None = None) -> Response:
    """A domain error in the envelope, with its status hint."""
    return error_response(
        exc.status_hint, exc.code, exc.message, domain_error_details(exc), headers
    )
