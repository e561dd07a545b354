"""The admin API: the console's GraphQL endpoint at /graphql plus health routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from core.bootstrap import Services
from core.config import Settings, get_settings
from graphql_api.schema import schema
from http_common.health import health_routes
from http_common.lifespan import services_lifespan


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or (services.settings if services else get_settings())
    graphql_app: GraphQL[None, None] = GraphQL(
        schema, graphql_ide="graphiql" if settings.is_dev else None
    )
    app = Starlette(
        routes=[
            *health_routes(),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
        ],
        lifespan=services_lifespan(settings, services),
    )
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    return app
