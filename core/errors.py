"""Domain errors. Each edge maps them: the device edge to its JSON error body, the GraphQL API
to typed error results. Nothing here knows about HTTP, so `status_hint` is only advice."""

from __future__ import annotations

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
