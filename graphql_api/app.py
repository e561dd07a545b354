"""The admin API: the console's GraphQL endpoint at /graphql (HTTP and websocket), health
routes, and the local-storage upload routes used in embedded mode."""

from __future__ import annotations

import structlog
from cross_web import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from core.backends import RETRY_AFTER_S, backend_unavailable
from core.bootstrap import Services
from core.clock import SystemClock
from core.config import Settings, StorageBackend
from core.storage.local import LocalStorage
from graphql_api.context import Context, build_context
from graphql_api.limits import BodyLimit
from graphql_api.proof_of_play import csv_export
from graphql_api.refusals import request_error, unavailable_error
from graphql_api.schema import build_schema
from graphql_api.websocket import ConnectionCaps, ConsoleWebSocketGraphQL
from http_common.forwarded import forwarded_middleware
from http_common.health import health_routes
from http_common.lifespan import services_lifespan
from http_common.process import process_settings
from http_common.security_headers import SecuredStarlette, security_headers
from http_common.storage_routes import upload_routes
from queueing.plan_changes import install_plan_change_sink
from telemetry.http import HttpMetrics
from telemetry.public import public_metrics_routes
from telemetry.tracing import configure_tracing, traced_asgi

MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
log = structlog.get_logger(__name__)


# GraphiQL (dev only) is the one page either app serves: it loads React and GraphiQL from
# unpkg.com and runs an inline script, and talks to /graphql over HTTP and websocket.
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://unpkg.com; "
    "style-src 'unsafe-inline' https://unpkg.com https://fonts.googleapis.com; "
    "font-src data: https://unpkg.com https://fonts.gstatic.com; img-src data: https:; "
    "connect-src 'self' {ws}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class ConsoleGraphQL(ConsoleWebSocketGraphQL):
    """Strawberry's ASGI app with our per-request context and websocket authentication;
    its HTTP-level refusals answer JSON (`graphql_api.refusals`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = request_error(exc.status_code, exc.reason)
        except RecursionError:
            # Only a request nested beyond the interpreter's limit gets here (JSON body,
            # variables or selection sets): the client's input, not a server fault.
            response = request_error(400, "the request is nested too deeply")
        except Exception as exc:
            # Operations turn this into UNAVAILABLE errors themselves (graphql_api.errors);
            # this catches it where no operation runs yet, e.g. checking the bearer token.
            if not backend_unavailable(exc):
                raise
            log.warning("backend unavailable", error=type(exc).__name__)
            response = unavailable_error(RETRY_AFTER_S)
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        host = request.url.netloc
        csp = GRAPHIQL_CSP.format(ws=f"ws://{host} wss://{host}")
        return HTMLResponse(self.graphql_ide_html, headers={"Content-Security-Policy": csp})

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        services: Services = request.app.state.services
        return await build_context(services, request, response)


def _storage_routes(settings: Settings, services: Services | None) -> list[BaseRoute]:
    """Embedded mode only: the signed PUT that stands in for an S3 presigned upload URL."""
    if settings.storage_backend is not StorageBackend.LOCAL:
        return []
    storage = services.storage if services is not None else None
    if not isinstance(storage, LocalStorage):
        storage = LocalStorage.from_settings(settings)
    clock = services.clock if services is not None else SystemClock()
    return list(upload_routes(storage, clock))


def _cors(settings: Settings) -> list[Middleware]:
    """A console served from another origin (CONSOLE_ORIGINS) may call /graphql and the CSV
    export with its bearer token. No cookies are involved, so credentials stay off; with no
    origins configured, browsers keep the same-origin policy."""
    if not settings.console_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.console_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Content-Disposition"],
            max_age=600,
        )
    ]


def create_app(settings: Settings | None = None, services: Services | None = None) -> ASGIApp:
    # No arguments: uvicorn's factory call, so this app owns the process (its logging and,
    # if OTEL_* ask for them, its traces too: then the app comes inside the tracing middleware).
    owned = settings is None and services is None
    settings = settings or (services.settings if services else process_settings())
    if owned:
        configure_tracing("api")
    # Programming and fleet mutations enqueue plan regeneration (broker built on first use).
    install_plan_change_sink(settings)
    graphql_app = ConsoleGraphQL(
        build_schema(production=not settings.is_dev),
        graphql_ide="graphiql" if settings.is_dev else None,
        # GET stays available for read-only queries; Strawberry refuses mutations over GET.
        allow_queries_via_get=True,
        # Only graphql-transport-ws: the legacy graphql-ws protocol is disabled.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        # Browser websockets from CONSOLE_ORIGINS (and same-origin) only: HTTP 403 otherwise.
        allowed_origins=settings.console_origins,
        caps=ConnectionCaps.from_settings(settings),
    )
    app = SecuredStarlette(
        routes=[
            *health_routes(),
            # Every method reaches the view, which refuses all but GET and POST in JSON.
            Route("/graphql", BodyLimit(graphql_app, settings.max_request_bytes)),
            WebSocketRoute("/graphql", graphql_app),
            *_storage_routes(settings, services),
            *csv_export.routes,
            *public_metrics_routes(settings),
        ],
        middleware=[*forwarded_middleware(settings), *_cors(settings)],
        lifespan=services_lifespan(settings, services, "api"),
        security_headers=security_headers(settings, public_url=settings.public_api_url),
        http_metrics=HttpMetrics("api") if settings.metrics_enabled else None,
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    return traced_asgi(app) if owned else app
