"""One JSON error shape for every 4xx and 5xx on the edge (`http_common.error_envelope`):

    {"error": {"code": "<machine-readable>", "message": "<for people>", "details": {...}?}}

Players branch on `code`, never on the message or the status alone. Domain errors from
`core` carry their code and a status hint; Starlette's own 404/405 are translated; anything
unexpected becomes a 500 `internal_error` whose body says nothing about the cause (the
traceback goes to the server log only). A backend that is briefly out of reach (PostgreSQL
pool exhausted or down, Redis unreachable) is not the player's fault and not a bug: it gets
503 `unavailable` with Retry-After, so players keep their buffers and back off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# "A backend is out of reach right now", not "this request is wrong": one rule for the whole
# system (the heartbeat writer uses it too, to decide which failed batches to retry).
from core.backends import RETRY_AFTER_S as _RETRY_AFTER_S
from core.backends import backend_unavailable as _backend_unavailable
from core.errors import DomainError, RateLimited, Unauthenticated
from http_common.error_envelope import domain_error_response, error_response

log = structlog.get_logger(__name__)

HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


RETRY_AFTER_S = _RETRY_AFTER_S


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, Unauthenticated):
        # RFC 6750 §3: say which scheme is expected, and why the token was refused.
        headers["WWW-Authenticate"] = f'Bearer realm="device", error="{exc.code}"'
    # Expected (a bad token, a missing permission, a rate limit, invalid input): one line,
    # never a traceback.
    log.info(
        "request refused",
        status=exc.status_hint,
        code=exc.code,
        method=request.method,
        path=request.url.path,
    )
    return domain_error_response(exc, headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, headers=exc.headers)


EXCEPTION_HANDLERS = {DomainError: domain_error_handler, HTTPException: http_error_handler}


class OutageLog:
    """A backend outage is expected, not a bug of the request that met it: the first 503 of
    an outage is logged with its cause (the traceback says which backend and why), then at
    most one line per `every_s` per process, counting the 503s answered meanwhile. A 40 s
    database freeze used to write a traceback for each of its thousand 503s."""

    def __init__(self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last_logged: float | None = None
        self._suppressed = 0

    def record(self, path: object, method: object) -> None:
        """Call from the `except` block that caught the outage."""
        now = self._clock()
        if self._last_logged is not None and now - self._last_logged < self._every_s:
            self._suppressed += 1
            return
        log.exception(
            "backend unavailable",
            path=path,
            method=method,
            answered_503_since_last_line=self._suppressed,
        )
        self._last_logged, self._suppressed = now, 0


class CatchAllMiddleware:
    """The last line: any exception nobody handled becomes a bare 500 in the JSON shape.

    Starlette's own ServerErrorMiddleware would re-raise after answering; this logs once
    and answers, so the body never carries a stack trace and the server stays quiet.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._outage_log = OutageLog()  # one per app: an outage of one app is its own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return  # nobody is left to answer
        except Exception as exc:
            unavailable = _backend_unavailable(exc)
            if not unavailable:
                log.exception("unhandled error", path=scope.get("path"), method=scope.get("method"))
            else:
                self._outage_log.record(scope.get("path"), scope.get("method"))
            if started:
                raise
            if unavailable:
                response = error_response(
                    503,
                    "unavailable",
                    "a backend is briefly unavailable; retry later",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            else:
                response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send)
