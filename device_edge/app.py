"""The device edge: the lean `/v1/device` REST contract that player firmware depends on.

Adding a route group: write `device_edge/routes/<name>.py` exposing `routes` (EdgeRoutes
with an Operation each, see `device_edge.routing`), import it below and add ONE line to
`edge_routes()`. The OpenAPI document is generated from whatever is mounted.
"""

from __future__ import annotations

import time

from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from core.bootstrap import Services
from core.config import Settings, StorageBackend
from core.storage.local import LocalStorage
from device_edge import openapi
from device_edge.errors import EXCEPTION_HANDLERS, CatchAllMiddleware
from device_edge.routes import events, heartbeat, pairing, plan, token
from device_edge.routing import Operation, Reply, describe
from http_common.forwarded import forwarded_middleware
from http_common.health import health_routes
from http_common.lifespan import services_lifespan
from http_common.process import process_settings
from http_common.security_headers import SecuredStarlette, security_headers
from http_common.storage_routes import content_routes
from telemetry.http import HttpMetrics
from telemetry.public import public_metrics_routes
from telemetry.tracing import configure_tracing, traced_asgi

HEALTH_OPERATIONS = {
    "/healthz": Operation(
        operation_id="healthz",
        summary="Liveness: the process answers",
        tags=("meta",),
        replies=(Reply(200, "Alive"),),
    ),
    "/readyz": Operation(
        operation_id="readyz",
        summary="Readiness: PostgreSQL, Redis and migrations are fine",
        tags=("meta",),
        replies=(Reply(200, "Ready"), Reply(503, "Not ready; `checks` says why")),
    ),
}

METRICS_OPERATION = Operation(
    operation_id="metrics",
    summary="Prometheus metrics (only with METRICS_PUBLIC=true, and METRICS_TOKEN as bearer)",
    tags=("meta",),
    replies=(Reply(200, "The metrics, Prometheus text format", media_type="text/plain"),),
    errors={401: ("unauthenticated",)},
)

CONTENT_OPERATION = Operation(
    operation_id="getContent",
    summary="Download a content file (embedded local storage only)",
    description=(
        "Plans carry stable content URLs. With S3 storage they point at the bucket or CDN;"
        " with local storage they point here. Range requests are answered with 206."
    ),
    tags=("content",),
    replies=(
        Reply(200, "The file", media_type="application/octet-stream"),
        Reply(206, "Part of the file", media_type="application/octet-stream"),
    ),
    errors={404: ("not_found",)},
)


def local_content_routes(settings: Settings, services: Services | None) -> list[BaseRoute]:
    """Embedded mode: the edge itself serves the files that plans point players at."""
    if settings.storage_backend is not StorageBackend.LOCAL:
        return []
    storage = services.storage if services is not None else None
    if not isinstance(storage, LocalStorage):
        storage = LocalStorage.from_settings(settings)
    return [describe(route, CONTENT_OPERATION) for route in content_routes(storage)]


def edge_routes() -> list[BaseRoute]:
    health = [describe(route, HEALTH_OPERATIONS[route.path]) for route in health_routes()]
    # Starlette tries routes in order: the per-minute device routes come first.
    return [
        *heartbeat.routes,
        *plan.routes,
        *events.routes,
        *pairing.routes,
        *token.routes,
        *health,
        *openapi.routes,
    ]


class EdgeApp(SecuredStarlette):
    """Starlette, with the plan poll's 304 answered ahead of the middleware stack
    (`plan.answered_not_modified`: the hot path of every player, every minute); that answer
    carries the same precomputed security headers as every other."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == plan.PATH and scope["method"] == "GET":
            started = time.perf_counter()
            if await plan.answered_not_modified(self, scope, send, self.security_headers):
                if self.http_metrics is not None:  # the middleware that counts was skipped
                    elapsed = time.perf_counter() - started
                    self.http_metrics.observe(plan.PATH, "GET", 304, elapsed)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, services: Services | None = None) -> ASGIApp:
    # No arguments: uvicorn's factory call, so this app owns the process (its logging and,
    # if OTEL_* ask for them, its traces too: then the app comes inside the tracing middleware).
    owned = settings is None and services is None
    settings = settings or (services.settings if services else process_settings())
    if owned:
        configure_tracing("edge")
    app = EdgeApp(
        routes=[
            *edge_routes(),
            *local_content_routes(settings, services),
            *[describe(route, METRICS_OPERATION) for route in public_metrics_routes(settings)],
        ],
        middleware=[Middleware(CatchAllMiddleware), *forwarded_middleware(settings)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=services_lifespan(settings, services, "edge"),
        security_headers=security_headers(settings, public_url=settings.public_edge_url),
        http_metrics=HttpMetrics("edge") if settings.metrics_enabled else None,
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    return traced_asgi(app) if owned else app
