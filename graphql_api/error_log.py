"""How GraphQL errors reach the server log: one line for what the client got wrong, a
traceback only for what we got wrong.

Strawberry's default (`Schema.process_errors`) logs every error with its traceback on
"strawberry.execution", including an expired token or a missing permission. Here:
- parse and validation errors, and expected domain errors (`core.errors.DomainError`:
  unauthenticated, forbidden, rate limited, not found, invalid input) give one info line with
  their code and path;
- a backend out of reach (`core.backends`; the client gets UNAVAILABLE): one error line
  "backend unavailable" with the traceback, as on the device edge, whether the error ended
  up at the top level or as a field's UnavailableError;
- anything else is a bug: one error line with the traceback (plain, without locals, redacted;
  see `core.logging`).
Errors are logged before `MaskUnexpectedErrors` rewrites them, so the log keeps the cause.
"""

from __future__ import annotations

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from core.backends import backend_unavailable
from core.errors import DomainError

log = structlog.get_logger(__name__)


def log_graphql_error(error: GraphQLError, operation: str | None) -> None:
    original = error.original_error
    path = ".".join(str(part) for part in error.path) if error.path else None
    if original is None or isinstance(original, GraphQLError):
        log.info("graphql request rejected", reason=error.message, operation=operation)
    elif isinstance(original, DomainError):
        log.info(
            "graphql request refused",
            code=original.code,
            reason=original.message,
            path=path,
            operation=operation,
        )
    elif backend_unavailable(original):
        log_backend_unavailable(original, path, operation)
    else:
        log.error("graphql resolver failed", path=path, operation=operation, exc_info=original)


def log_backend_unavailable(exc: BaseException, path: str | None, operation: str | None) -> None:
    log.error("backend unavailable", path=path, operation=operation, exc_info=exc)


class LoggedSchema(strawberry.Schema):
    """strawberry.Schema whose error log follows the rule above."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        operation = execution_context.operation_name if execution_context else None
        for error in errors:
            log_graphql_error(error, operation)
