"""The admin API: the console's GraphQL endpoint at /graphql (HTTP and websocket), health
routes, and the local-storage upload routes used in embedded mode."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from core.bootstrap import Services
from core.clock import SystemClock
from core.config import Settings, StorageBackend, get_settings
from core.errors import Unauthenticated
from core.storage.local import LocalStorage
from graphql_api.context import Context, bearer_token, build_context
from graphql_api.limits import BodyLimit
from graphql_api.reports import csv_export
from graphql_api.schema import build_schema
from http_common.health import health_routes
from http_common.lifespan import services_lifespan
from http_common.storage_routes import upload_routes
from workers.planning import install_plan_trigger

MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


class ConsoleGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with our per-request context and websocket authentication."""

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        services: Services = request.app.state.services
        return await build_context(services, request, response)

    async def on_ws_connect(self, context: Context) -> Any:
        """Browsers cannot set headers on websockets: the console token comes in the
        `connection_init` payload as `{"authorization": "Bearer <token>"}` (or `{"token": ...}`).
        A connection without a valid console token is closed (4403)."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        try:
            token = bearer_token(raw) if isinstance(raw, str) else params.get("token")
        except Unauthenticated as exc:
            raise ConnectionRejectionError() from exc
        if isinstance(token, str) and token:
            await context.authenticate_token(token)
        if context.actor is None:
            raise ConnectionRejectionError()
        return UNSET


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


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or (services.settings if services else get_settings())
    install_plan_trigger()  # programming and fleet mutations enqueue plan regeneration
    graphql_app = ConsoleGraphQL(
        build_schema(production=not settings.is_dev),
        graphql_ide="graphiql" if settings.is_dev else None,
        # GET stays available for read-only queries; Strawberry refuses mutations over GET.
        allow_queries_via_get=True,
        # Only graphql-transport-ws: the legacy graphql-ws protocol is disabled.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    app = Starlette(
        routes=[
            *health_routes(),
            Route(
                "/graphql",
                BodyLimit(graphql_app, settings.max_request_bytes),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", graphql_app),
            *_storage_routes(settings, services),
            *csv_export.routes,
        ],
        middleware=_cors(settings),
        lifespan=services_lifespan(settings, services),
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    return app
