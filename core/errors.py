"""Domain errors. Each edge maps them: the device edge to its JSON error body, the GraphQL API
to typed error results. Nothing here knows about HTTP, so `status_hint` is only advice."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

# How long callers are told to wait before retrying a backend outage (the edge's Retry-After,
# GraphQL's retryAfterSeconds): a restart or failover is usually over within seconds.
RETRY_AFTER_S = 5


class DomainError(Exception):
    code: str = "domain_error"
    status_hint: int = 400

    def __init__(
        self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}


class ValidationFailed(DomainError):
    code = "validation_error"
    status_hint = 422

    def __init__(
        self, message: str, *, field: str | None = None, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, field=field, details={"errors": errors or []})
        self.errors = errors or []


class NotFound(DomainError):
    code = "not_found"
    status_hint = 404


class Conflict(DomainError):
    code = "conflict"
    status_hint = 409


class PermissionDenied(DomainError):
    code = "forbidden"
    status_hint = 403


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status_hint = 401


class RateLimited(DomainError):
    code = "rate_limited"
    status_hint = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class BackendUnavailable(DomainError):
    """PostgreSQL or Redis is out of reach (`core.backends.backend_unavailable`): nobody's
    fault, retry after `retry_after_s`. Edges also map the raw driver errors themselves."""

    code = "unavailable"
    status_hint = 503

    def __init__(
        self,
        message: str = "a backend is briefly unavailable; retry later",
        *,
        retry_after_s: int = RETRY_AFTER_S,
    ) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status_hint = 413


class IntegrityMismatch(DomainError):
    """Uploaded bytes did not match the declared size or sha256."""

    code = "integrity_mismatch"
    status_hint = 422


class ErrorCode(StrEnum):
    """Every machine-readable code core raises: a DomainError's `code`, the `code` of a
    ValidationFailed field entry, or a Conflict's `details["code"]`.

    Why one list: edges translate codes (GraphQL's `ErrorCode` enum, the device edge's JSON
    body), and a code an edge does not know silently degrades to a generic one.
    `tests/graphql_api/test_error_codes.py` scans core for code literals and fails when one
    is missing here or from the GraphQL enum. Values are the lower-case strings core uses.
    """

    # generic input validation
    INVALID = "invalid"
    REQUIRED = "required"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"
    OUT_OF_RANGE = "out_of_range"
    INVALID_FORMAT = "invalid_format"
    INVALID_CHOICE = "invalid_choice"
    INVALID_TYPE = "invalid_type"
    UNKNOWN_FIELD = "unknown_field"
    NOT_ALLOWED = "not_allowed"
    INVALID_TIMEZONE = "invalid_timezone"
    INVALID_TIME = "invalid_time"
    INVALID_DATE = "invalid_date"
    INVALID_UUID = "invalid_uuid"
    INVALID_DATE_RANGE = "invalid_date_range"
    RANGE_ORDER = "range_order"
    OVERLAP = "overlap"
    DUPLICATE = "duplicate"
    VALIDATION_ERROR = "validation_error"
    # text and numbers PostgreSQL cannot store (core.inputs)
    NUL_CHARACTER = "nul_character"
    UNPAIRED_SURROGATE = "unpaired_surrogate"
    INTEGER_OUT_OF_RANGE = "integer_out_of_range"
    NUMBER_NOT_FINITE = "number_not_finite"
    DATETIME_NAIVE = "datetime_naive"
    DATETIME_OUT_OF_RANGE = "datetime_out_of_range"
    DATE_OUT_OF_RANGE = "date_out_of_range"
    TOO_DEEPLY_NESTED = "too_deeply_nested"
    # state and existence
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    IN_USE = "in_use"
    PLAYLIST_IN_USE = "playlist_in_use"
    NOT_IN_PLAYLIST = "not_in_playlist"
    MISSING_ITEMS = "missing_items"
    VERSION_MISMATCH = "version_mismatch"
    DUPLICATE_VERSION = "duplicate_version"
    DECOMMISSIONED = "decommissioned"
    DEVICE_NOT_ACTIVE = "device_not_active"
    # pairing: console claims, and the device flow (RFC 8628 names)
    CLAIM_USED = "claim_used"
    EXPIRED = "expired"
    DENIED = "denied"
    NOT_PENDING = "not_pending"
    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    ACCESS_DENIED = "access_denied"
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 - error codes, not secrets
    INVALID_GRANT = "invalid_grant"
    # authentication and authorization
    UNAUTHENTICATED = "unauthenticated"
    INVALID_TOKEN = "invalid_token"  # noqa: S105
    TOKEN_EXPIRED = "token_expired"  # noqa: S105
    TOKEN_REUSED = "token_reused"  # noqa: S105
    TOKEN_REVOKED = "token_revoked"  # noqa: S105
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    # a backend is briefly out of reach
    UNAVAILABLE = "unavailable"
    # uploads
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INTEGRITY_MISMATCH = "integrity_mismatch"
    UPLOAD_NOT_RECEIVED = "upload_not_received"
    UPLOAD_SIGNATURE_INVALID = "upload_signature_invalid"
    UPLOAD_URL_EXPIRED = "upload_url_expired"
