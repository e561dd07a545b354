"""The device edge: the lean `/v1/device` REST contract that player firmware depends on.

Adding a route group: write `device_edge/routes/<name>.py` exposing `routes` (EdgeRoutes
with an Operation each, see `device_edge.routing`), import it below and add ONE line to
`edge_routes()`. The OpenAPI document is generated from whatever is mounted.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from core.bootstrap import Services
from core.config import Settings, get_settings
from device_edge import openapi
from device_edge.errors import EXCEPTION_HANDLERS, CatchAllMiddleware
from device_edge.routes import events, heartbeat, pairing, plan, token
from device_edge.routing import Operation, Reply, describe
from http_common.health import health_routes
from http_common.lifespan import services_lifespan

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


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or (services.settings if services else get_settings())
    app = Starlette(
        routes=edge_routes(),
        middleware=[Middleware(CatchAllMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=services_lifespan(settings, services),
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    return app
