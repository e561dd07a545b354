"""Expected errors are part of the schema: every mutation returns a union of its success type
and typed error results carrying `field`, `message` and a `code` enum.

How a resolver produces them: it simply lets a `core.errors.DomainError` escape. The schema's
exception handlers (`EXCEPTION_HANDLERS`) turn it into the matching error type when that type
is a member of the field's return union; otherwise it becomes a top-level GraphQL error whose
`extensions.code` is set by `DomainErrorCodes` (and which `MaskErrors` leaves readable, since it
was expected). Anything that is not a DomainError is a bug and is masked in production.

Use `to_error_result(exc)` where a resolver wants to build the result itself.

Bad input is never INTERNAL_ERROR. Which shape it takes depends on where GraphQL notices it:
- a value of the right type that cannot be stored or computed with (NUL or a lone surrogate
  in a string, a date-time without offset or too close to years 1/9999, a date outside
  0001-01-03..9999-12-29): `graphql_api/input_rule.py` checks every argument of every query
  and mutation with `core.inputs` before the resolver runs and raises ValidationFailed, so a
  mutation answers its typed `ValidationError` (one FieldError per value, camelCase path,
  code NUL_CHARACTER, UNPAIRED_SURROGATE, OUT_OF_RANGE or INVALID_FORMAT), and a query a
  top-level error with that code in `extensions.code` and the same `extensions.errors`;
- a value GraphQL cannot coerce to the argument's type at all (a bad UUID, Date, DateTime or
  BigInt, an Int beyond 32 bits, an unknown enum value), as a variable or a literal: the
  operation does not run, so there is no result union to put it in. graphql-core reports it
  as a top-level error with no `path`; `DomainErrorCodes` gives it `extensions.code`
  VALIDATION_ERROR and `MaskUnexpectedErrors` leaves it readable in production. That holds
  because every scalar parser raises GraphQLError (Strawberry's own scalars do, and so does
  `BigInt` in graphql_api/scalars.py): a parser raising anything else would be reported as
  an unexpected exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

from core import inputs as core_inputs
from core.backends import RETRY_AFTER_S, backend_unavailable
from core.errors import (
    BackendUnavailable,
    Conflict,
    DomainError,
    IntegrityMismatch,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from graphql_api.error_log import log_backend_unavailable
from graphql_api.metrics import count_typed_error


@strawberry.enum(description="Machine-readable reason of an error; stable across releases.")
class ErrorCode(Enum):
    """Mirrors `core.errors.ErrorCode` (same names), plus the codes only this API raises
    (`GRAPHQL_ONLY_CODES`); tests/graphql_api/test_error_codes.py keeps the two in step."""

    # generic input validation
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_SHORT = "TOO_SHORT"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    INVALID_FORMAT = "INVALID_FORMAT"
    INVALID_CHOICE = "INVALID_CHOICE"
    INVALID_TYPE = "INVALID_TYPE"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    NOT_ALLOWED = "NOT_ALLOWED"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    INVALID_TIME = "INVALID_TIME"
    INVALID_DATE = "INVALID_DATE"
    INVALID_UUID = "INVALID_UUID"
    INVALID_DATE_RANGE = "INVALID_DATE_RANGE"
    RANGE_ORDER = "RANGE_ORDER"
    OVERLAP = "OVERLAP"
    DUPLICATE = "DUPLICATE"
    IMMUTABLE = "IMMUTABLE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    PAGE_SIZE_EXCEEDED = "PAGE_SIZE_EXCEEDED"
    INVALID_CURSOR = "INVALID_CURSOR"
    # text PostgreSQL cannot store (core.inputs)
    NUL_CHARACTER = "NUL_CHARACTER"
    UNPAIRED_SURROGATE = "UNPAIRED_SURROGATE"
    # state and existence
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    IN_USE = "IN_USE"
    PLAYLIST_IN_USE = "PLAYLIST_IN_USE"
    NOT_IN_PLAYLIST = "NOT_IN_PLAYLIST"
    MISSING_ITEMS = "MISSING_ITEMS"
    VERSION_MISMATCH = "VERSION_MISMATCH"
    DUPLICATE_VERSION = "DUPLICATE_VERSION"
    DECOMMISSIONED = "DECOMMISSIONED"
    DEVICE_NOT_ACTIVE = "DEVICE_NOT_ACTIVE"
    # pairing: console claims, and the device flow (RFC 8628 names)
    CLAIM_USED = "CLAIM_USED"
    EXPIRED = "EXPIRED"
    DENIED = "DENIED"
    NOT_PENDING = "NOT_PENDING"
    AUTHORIZATION_PENDING = "AUTHORIZATION_PENDING"
    SLOW_DOWN = "SLOW_DOWN"
    ACCESS_DENIED = "ACCESS_DENIED"
    EXPIRED_TOKEN = "EXPIRED_TOKEN"  # noqa: S105 - error codes, not secrets
    INVALID_GRANT = "INVALID_GRANT"
    # authentication and authorization
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 - error codes, not secrets
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105
    TOKEN_REUSED = "TOKEN_REUSED"  # noqa: S105
    TOKEN_REVOKED = "TOKEN_REVOKED"  # noqa: S105
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    # PostgreSQL or Redis briefly out of reach: retry after retryAfterSeconds
    UNAVAILABLE = "UNAVAILABLE"
    # uploads
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INTEGRITY_MISMATCH = "INTEGRITY_MISMATCH"
    UPLOAD_NOT_RECEIVED = "UPLOAD_NOT_RECEIVED"
    UPLOAD_SIGNATURE_INVALID = "UPLOAD_SIGNATURE_INVALID"
    UPLOAD_URL_EXPIRED = "UPLOAD_URL_EXPIRED"
    # anything unexpected (masked in production)
    INTERNAL_ERROR = "INTERNAL_ERROR"

    @classmethod
    def from_domain(cls, code: str | None, default: ErrorCode | None = None) -> ErrorCode:
        """Map a core error code string ("not_found", "too_long", ...) to the enum."""
        if code:
            member = cls.__members__.get(code.upper()) or _ALIASES.get(code)
            if member is not None:
                return member
        return default or cls.INVALID


# Raised by this API itself (paging, cursors, masking), never by core.
GRAPHQL_ONLY_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.IMMUTABLE,
        ErrorCode.PAGE_SIZE_EXCEEDED,
        ErrorCode.INVALID_CURSOR,
        ErrorCode.INTERNAL_ERROR,
    }
)

# core.inputs problem codes that an existing, more general code already says.
_ALIASES: dict[str, ErrorCode] = {
    core_inputs.INTEGER_OUT_OF_RANGE: ErrorCode.OUT_OF_RANGE,
    core_inputs.NUMBER_NOT_FINITE: ErrorCode.OUT_OF_RANGE,
    core_inputs.DATETIME_OUT_OF_RANGE: ErrorCode.OUT_OF_RANGE,
    core_inputs.DATE_OUT_OF_RANGE: ErrorCode.OUT_OF_RANGE,
    core_inputs.DATETIME_NAIVE: ErrorCode.INVALID_FORMAT,
    core_inputs.TOO_DEEPLY_NESTED: ErrorCode.INVALID,
}


@strawberry.interface(description="Common shape of every typed error result.")
class Error:
    message: str
    code: ErrorCode
    field: str | None = strawberry.field(
        default=None,
        description="Path of the field at fault within the mutation's input (or argument name), "
        "e.g. `openingHours.mon[0].close` or `deviceIds[3]`.",
    )


@strawberry.type(description="One invalid input field.")
class FieldError:
    field: str
    message: str
    code: ErrorCode


@strawberry.type(description="The input was rejected; `errors` lists every invalid field.")
class ValidationError(Error):
    errors: list[FieldError] = strawberry.field(default_factory=list)


@strawberry.type
class NotFoundError(Error):
    pass


@strawberry.type(description="The change conflicts with the current state (duplicate, in use).")
class ConflictError(Error):
    pass


@strawberry.type(description="Authenticated, but the role lacks the needed permission.")
class PermissionDeniedError(Error):
    pass


@strawberry.type(description="Credentials or token rejected.")
class AuthenticationError(Error):
    pass


@strawberry.type
class RateLimitedError(Error):
    retry_after_seconds: int


@strawberry.type(
    description="A backend (database, cache) is briefly out of reach; nothing was done. "
    "Retry after `retryAfterSeconds`."
)
class UnavailableError(Error):
    retry_after_seconds: int


@strawberry.type
class PayloadTooLargeError(Error):
    pass


@strawberry.type(description="Uploaded bytes do not match the declared size or sha256.")
class IntegrityError(Error):
    pass


_SEGMENT = re.compile(r"[A-Za-z0-9_]+")


def camel_path(path: str | None) -> str | None:
    """`opening_hours.mon[0].close` -> `openingHours.mon[0].close`: core names fields the
    Python way, clients see the GraphQL names. Already camel-cased paths are unchanged."""
    if path is None:
        return None

    def camel(match: re.Match[str]) -> str:
        head, *rest = match.group(0).split("_")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)

    return _SEGMENT.sub(camel, path)


def _field_errors(exc: ValidationFailed) -> list[FieldError]:
    items: list[FieldError] = []
    for raw in exc.errors:
        items.append(
            FieldError(
                field=camel_path(str(raw.get("field") or exc.field or "")) or "",
                message=str(raw.get("message") or exc.message),
                code=ErrorCode.from_domain(raw.get("code")),
            )
        )
    if not items:
        items.append(
            FieldError(
                field=camel_path(exc.field) or "",
                message=exc.message,
                code=ErrorCode.from_domain(exc.details.get("code"), ErrorCode.INVALID),
            )
        )
    return items


def to_error_result(exc: DomainError) -> Error:
    """The typed error result for a domain error (the most specific type that fits),
    counted in `signage_graphql_errors_total`."""
    result = _error_result(exc)
    count_typed_error(result.code.value)
    return result


def _error_result(exc: DomainError) -> Error:
    if isinstance(exc, ValidationFailed):
        errors = _field_errors(exc)
        first = errors[0]
        return ValidationError(
            message=exc.message,
            code=first.code,
            field=camel_path(exc.field) or first.field,
            errors=errors,
        )
    if isinstance(exc, NotFound):
        return NotFoundError(
            message=exc.message, code=ErrorCode.NOT_FOUND, field=camel_path(exc.field)
        )
    if isinstance(exc, Conflict):
        code = ErrorCode.from_domain(exc.details.get("code"), ErrorCode.CONFLICT)
        return ConflictError(message=exc.message, code=code, field=camel_path(exc.field))
    if isinstance(exc, PermissionDenied):
        return PermissionDeniedError(
            message=exc.message, code=ErrorCode.FORBIDDEN, field=camel_path(exc.field)
        )
    if isinstance(exc, Unauthenticated):
        code = ErrorCode.from_domain(exc.code, ErrorCode.UNAUTHENTICATED)
        return AuthenticationError(message=exc.message, code=code, field=camel_path(exc.field))
    if isinstance(exc, RateLimited):
        return RateLimitedError(
            message=exc.message,
            code=ErrorCode.RATE_LIMITED,
            field=camel_path(exc.field),
            retry_after_seconds=exc.retry_after_s,
        )
    if isinstance(exc, BackendUnavailable):
        return UnavailableError(
            message=exc.message,
            code=ErrorCode.UNAVAILABLE,
            field=camel_path(exc.field),
            retry_after_seconds=exc.retry_after_s,
        )
    if isinstance(exc, PayloadTooLarge):
        return PayloadTooLargeError(
            message=exc.message, code=ErrorCode.PAYLOAD_TOO_LARGE, field=camel_path(exc.field)
        )
    if isinstance(exc, IntegrityMismatch):
        return IntegrityError(
            message=exc.message, code=ErrorCode.INTEGRITY_MISMATCH, field=camel_path(exc.field)
        )
    return ValidationError(
        message=exc.message,
        code=ErrorCode.from_domain(exc.code),
        field=camel_path(exc.field),
        errors=[
            FieldError(
                field=camel_path(exc.field) or "", message=exc.message, code=ErrorCode.INVALID
            )
        ],
    )


class DomainErrorHandler:
    """A schema exception handler turning one DomainError class into one error result type."""

    def __init__(self, exception_type: type[DomainError], error_type: type[Error]) -> None:
        self.exception_type = exception_type
        self.error_type = error_type

    def handle(self, exception: DomainError, *, field: StrawberryField, info: Info) -> Error:
        return to_error_result(exception)


def as_domain_error(exc: BaseException) -> DomainError | None:
    """The domain error `exc` stands for: itself, or BackendUnavailable for a driver error
    that means a backend is out of reach (`core.backends`). None for a bug."""
    if isinstance(exc, DomainError):
        return exc
    if backend_unavailable(exc):
        return BackendUnavailable(retry_after_s=RETRY_AFTER_S)
    return None


class BackendUnavailableHandler:
    """Turns "backend out of reach" (a raw driver error, or BackendUnavailable) into the
    field's UnavailableError, where that type is in its union; declines anything else."""

    exception_type = Exception
    error_type = UnavailableError

    def handle(self, exception: Exception, *, field: StrawberryField, info: Info) -> Error | None:
        unavailable = as_domain_error(exception)
        if not isinstance(unavailable, BackendUnavailable):
            return None
        # A result, not an error: Schema.process_errors never sees it, so log it here.
        operation = info.operation.name.value if info.operation.name else None
        log_backend_unavailable(exception, ".".join(map(str, info.path.as_list())), operation)
        return to_error_result(unavailable)


# Passed to strawberry.Schema(exception_handlers=...): used only where the error type is a
# member of the field's return union, so queries still get top-level errors.
EXCEPTION_HANDLERS: tuple[strawberry.ExceptionHandler[Any], ...] = (
    DomainErrorHandler(ValidationFailed, ValidationError),
    DomainErrorHandler(NotFound, NotFoundError),
    DomainErrorHandler(Conflict, ConflictError),
    DomainErrorHandler(PermissionDenied, PermissionDeniedError),
    DomainErrorHandler(Unauthenticated, AuthenticationError),
    DomainErrorHandler(RateLimited, RateLimitedError),
    DomainErrorHandler(PayloadTooLarge, PayloadTooLargeError),
    DomainErrorHandler(IntegrityMismatch, IntegrityError),
    BackendUnavailableHandler(),  # last: it matches any exception, and declines most
)

# Every error result type, registered with the schema so clients can always spread on them.
ERROR_TYPES: tuple[type, ...] = (
    ValidationError,
    NotFoundError,
    ConflictError,
    PermissionDeniedError,
    AuthenticationError,
    RateLimitedError,
    PayloadTooLargeError,
    IntegrityError,
    UnavailableError,
)


def top_level_code(exc: DomainError) -> ErrorCode:
    if isinstance(exc, PermissionDenied):
        return ErrorCode.FORBIDDEN
    if isinstance(exc, NotFound):
        return ErrorCode.NOT_FOUND
    if isinstance(exc, ValidationFailed):
        first = exc.errors[0].get("code") if exc.errors else None
        return ErrorCode.from_domain(first, ErrorCode.VALIDATION_ERROR)
    if isinstance(exc, Unauthenticated):
        return ErrorCode.from_domain(exc.code, ErrorCode.UNAUTHENTICATED)
    if isinstance(exc, BackendUnavailable):
        return ErrorCode.UNAVAILABLE
    return ErrorCode.from_domain(exc.code)


def is_unexpected(error: GraphQLError) -> bool:
    """True for errors to mask in production: exceptions that are not domain errors.

    Parse and validation errors (no original error) and GraphQL errors raised on purpose are
    the client's fault and stay readable.
    """
    original = error.original_error
    if original is None:
        return False
    return not isinstance(original, DomainError | GraphQLError) and not backend_unavailable(
        original
    )


class DomainErrorCodes(SchemaExtension):
    """Adds `extensions.code` (an ErrorCode) to every top-level error, and the field details of
    expected domain errors, so clients never have to parse messages."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        for error in errors:
            extensions = error.extensions if error.extensions is not None else {}
            original = error.original_error
            if original is not None and not isinstance(original, DomainError | GraphQLError):
                unavailable = as_domain_error(original)
                if unavailable is not None:  # the driver's message names hosts: not shown
                    error.message = unavailable.message
                    original = unavailable
            if isinstance(original, DomainError):
                extensions.setdefault("code", top_level_code(original).value)
                if original.field:
                    extensions.setdefault("field", camel_path(original.field))
                if isinstance(original, ValidationFailed) and original.errors:
                    extensions.setdefault(
                        "errors",
                        [
                            {
                                "field": item.field,
                                "code": item.code.value,
                                "message": item.message,
                            }
                            for item in _field_errors(original)
                        ],
                    )
                if isinstance(original, RateLimited | BackendUnavailable):
                    extensions.setdefault("retryAfterSeconds", original.retry_after_s)
            elif original is None or isinstance(original, GraphQLError):
                extensions.setdefault("code", ErrorCode.VALIDATION_ERROR.value)
            else:
                extensions.setdefault("code", ErrorCode.INTERNAL_ERROR.value)
            error.extensions = extensions


class MaskUnexpectedErrors(MaskErrors):
    """Production masking: unexpected exceptions become "Unexpected error." with code
    INTERNAL_ERROR and no trace; expected (domain, validation) errors stay readable."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Unexpected error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": ErrorCode.INTERNAL_ERROR.value}
        return masked
