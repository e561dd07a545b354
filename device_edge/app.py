"""The device edge: the lean `/v1/device` REST contract that player firmware depends on."""

from __future__ import annotations

from starlette.applications import Starlette

from core.bootstrap import Services
from core.config import Settings, get_settings
from http_common.health import health_routes
from http_common.lifespan import services_lifespan


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or (services.settings if services else get_settings())
    app = Starlette(routes=[*health_routes()], lifespan=services_lifespan(settings, services))
    app.state.settings = settings
    if services is not None:
        app.state.services = services
    return app
