"""Per-process objects the edge's endpoints share, built once from `app.state.services`.

The heartbeat writer and the device state reader coalesce concurrent requests of this process into
batched statements and Redis commands; they belong to one event loop, like the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request

from core.bootstrap import Services
from core.devices.heartbeat_writer import HeartbeatWriter
from core.devices.state_reader import DeviceStateReader
from core.security.tokens import TokenService

# Enough for every device of a large fleet talking to this process within a token lifetime.
VERIFIED_TOKEN_CACHE = 20_000


@dataclass(frozen=True)
class EdgeContext:
    services: Services
    tokens: TokenService
    heartbeats: HeartbeatWriter
    device_states: DeviceStateReader


def edge_context(request: Request) -> EdgeContext:
    return app_context(request.app)


def app_context(app: Starlette) -> EdgeContext:
    """The edge context of `app`, built on first use (after the lifespan set its services)."""
    state = app.state
    context = getattr(state, "edge_context", None)
    services: Services = state.services
    if context is None or context.services is not services:
        context = EdgeContext(
            services=services,
            tokens=TokenService(
                services.settings, services.clock, verified_cache_size=VERIFIED_TOKEN_CACHE
            ),
            heartbeats=HeartbeatWriter(services),
            device_states=DeviceStateReader(services.engine, services.redis, services.keys),
        )
        state.edge_context = context
    return context


def client_address(request: Request) -> str | None:
    """The client's address: the peer, or behind a TRUSTED_PROXIES proxy the address it
    forwarded (http_common.forwarded rewrites the scope before any route runs)."""
    return request.client.host if request.client else None
