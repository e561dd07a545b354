"""How GraphQL errors reach the server log: one line for what the client got wrong, a
traceback only for what we got wrong.

Strawberry's default (`Schema.process_errors`) logs every error with its traceback on
"strawberry.execution", including an expired token or a missing permission. Here:
- parse and validation errors, and expected domain errors (`core.errors.DomainError`:
  unauthenticated, forbidden, rate limited, not found, invalid input) give one info line with
  their code and path;
- anything else is a bug: one error line with the traceback (plain, without locals, redacted;
  see `core.logging`).
Errors are logged before `MaskUnexpectedErrors` rewrites them, so the log keeps the cause.
"""

from __future__ import annotations

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.types import ExecutionContext

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
    else:
        log.error("graphql resolver failed", path=path, operation=operation, exc_info=original)


class LoggedSchema(strawberry.Schema):
    """strawberry.Schema whose error log follows the rule above."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        operation = execution_context.operation_name if execution_context else None
        for error in errors:
            log_graphql_error(error, operation)
