"""Standard security headers on every HTTP response of both apps, as one pure-ASGI wrapper.

Why these: both apps answer JSON to programs, never pages (GraphiQL in dev excepted), so a
browser that is tricked into loading a response must neither sniff it into a script or a page,
nor frame it, nor leak the URL (tokens, ids) through Referer:

- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`;
- `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` (nothing may load);
- `Cross-Origin-Resource-Policy: same-origin` (the console's cross-origin calls are CORS
  requests, which CORP does not affect);
- `Strict-Transport-Security` only when the app's public URL is https and HSTS_MAX_AGE_S > 0:
  the app cannot tell TLS from a terminating proxy's plain HTTP, but its public URL says how
  browsers reach it.

A response that sets one of these itself keeps its own value: the GraphiQL page brings a CSP
that lets it load its scripts, and content downloads bring `sandbox` (core.storage.serving).

Cost: the header tuples are built once per app; per response the wrapper only compares a few
header names. `SecuredStarlette` wraps the whole middleware stack, so even Starlette's own last
resort 500 carries them; the edge's plan 304 shortcut, which runs before any middleware, adds
the same precomputed tuples itself (`SecuredStarlette.security_headers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings
from telemetry.http import HttpMetrics, MeasuredHttp

Header = tuple[bytes, bytes]

API_CSP = "default-src 'none'; frame-ancestors 'none'"


def security_headers(settings: Settings, *, public_url: str) -> tuple[Header, ...]:
    """The headers an app reachable at `public_url` adds to every response."""
    headers = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "content-security-policy": API_CSP,
        "cross-origin-resource-policy": "same-origin",
    }
    if settings.hsts_max_age_s > 0 and public_url.lower().startswith("https://"):
        headers["strict-transport-security"] = f"max-age={settings.hsts_max_age_s}"
    return tuple((name.encode(), value.encode()) for name, value in headers.items())


def with_security_headers(headers: Sequence[Header], extra: Sequence[Header]) -> list[Header]:
    """`headers` plus each of `extra` whose name the response did not set itself."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *(header for header in extra if header[0] not in present)]


class SecurityHeaders:
    """Pure ASGI (no BaseHTTPMiddleware): streaming bodies and the event loop are untouched."""

    def __init__(self, app: ASGIApp, headers: Sequence[Header]) -> None:
        self.app = app
        self.headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", ())), extra)
            await send(message)

        await self.app(scope, receive, send_secured)


class SecuredStarlette(Starlette):
    """Starlette whose whole stack, ServerErrorMiddleware included, is wrapped in
    `SecurityHeaders`, so every answer it gives carries the headers; and, outermost, in the
    request metrics (`telemetry.http`) when it is given them, so every answer is counted."""

    def __init__(
        self,
        *args: Any,
        security_headers: Sequence[Header],
        http_metrics: HttpMetrics | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.security_headers: tuple[Header, ...] = tuple(security_headers)
        self.http_metrics = http_metrics

    def build_middleware_stack(self) -> ASGIApp:
        stack: ASGIApp = SecurityHeaders(super().build_middleware_stack(), self.security_headers)
        if self.http_metrics is not None:
            stack = MeasuredHttp(stack, self.http_metrics)
        return stack
