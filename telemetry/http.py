"""Per-route request metrics of the two HTTP apps: requests, latency, errors by code.

Labels stay bounded whatever clients send: the route is the template Starlette matched
(`/v1/device/plan`, never a path with an id in it, `unmatched` for anything else), the method
one of the standard ones (else `other`), and an error code only a short machine-readable word
read from our own error bodies, at most `MAX_ERROR_CODES` distinct ones per process.

Cost on the hot paths: one dictionary lookup for the label children, one counter increment
and one histogram observation per request; bodies are only looked at for 4xx/5xx answers
(`bench/heartbeat.py` and `bench/plan_304.py` measure it).
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "signage_http_requests",
    "HTTP requests answered, by app, route template, method and status.",
    ["app", "route", "method", "status"],
)
DURATION = Histogram(
    "signage_http_request_duration_seconds",
    "Time from a request's arrival at the app to the end of its answer.",
    ["app", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter(
    "signage_http_errors",
    "HTTP answers with a 4xx or 5xx status, by the error code in their body.",
    ["app", "route", "status", "code"],
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
MAX_ERROR_CODES = 200
_ERROR_BODY_BYTES = 8192
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")


class HttpMetrics:
    """The metric children of one app, cached per label set."""

    def __init__(self, app: str) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._codes: set[str] = set()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:  # before the cache: clients choose the method
            method = "other"
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                REQUESTS.labels(self.app, route, method, str(status)),
                DURATION.labels(self.app, route, method),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def error(self, route: str, status: int, code: str) -> None:
        if code not in self._codes:
            if len(self._codes) >= MAX_ERROR_CODES:
                code = "other"
            else:
                self._codes.add(code)
        ERRORS.labels(self.app, route, str(status), code).inc()


def error_code(body: bytes) -> str:
    """The machine-readable code of an error body: our REST envelope
    (`{"error": {"code": ...}}`) or GraphQL's (`{"errors": [{"extensions": {"code": ...}}]}`);
    `none` when the body carries none a metric label can take."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "none"
    code: object = None
    if isinstance(document, dict):
        error = document.get("error")
        errors = document.get("errors")
        if isinstance(error, dict):
            code = error.get("code")
        elif isinstance(errors, list) and errors and isinstance(errors[0], dict):
            extensions = errors[0].get("extensions")
            if isinstance(extensions, dict):
                code = extensions.get("code")
    if isinstance(code, str) and _CODE.fullmatch(code):
        return code
    return "none"


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MeasuredHttp:
    """ASGI middleware (outermost): every HTTP answer the app gives is counted and timed."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers: a request that raised past every handler
        error_body: bytearray | None = None

        async def measuring_send(message: Message) -> None:
            nonlocal status, error_body
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status >= 400:
                    error_body = bytearray()
            elif error_body is not None and message["type"] == "http.response.body":
                room = _ERROR_BODY_BYTES - len(error_body)
                if room > 0:
                    error_body += message.get("body", b"")[:room]
            await send(message)

        try:
            await self.app(scope, receive, measuring_send)
        finally:
            route = route_of(scope)
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)
            if status >= 400:
                self.metrics.error(route, status, error_code(bytes(error_body or b"")))
