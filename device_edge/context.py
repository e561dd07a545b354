"""Per-process objects the edge's endpoints share, built once from `app.state.services`.

The heartbeat writer and the epoch reader coalesce concurrent requests of this process into
batched statements and Redis commands; they belong to one event loop, like the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from core.bootstrap import Services
from core.devices.heartbeat_writer import HeartbeatWriter
from core.devices.token_epoch import EpochReader
from core.security.tokens import TokenService

# Enough for every device of a large fleet talking to this process within a token lifetime.
VERIFIED_TOKEN_CACHE = 20_000


@dataclass(frozen=True)
class EdgeContext:
    services: Services
    tokens: TokenService
    heartbeats: HeartbeatWriter
    epochs: EpochReader


def edge_context(request: Request) -> EdgeContext:
    state = request.app.state
    context = getattr(state, "edge_context", None)
    services: Services = state.services
    if context is None or context.services is not services:
        context = EdgeContext(
            services=services,
            tokens=TokenService(
                services.settings, services.clock, verified_cache_size=VERIFIED_TOKEN_CACHE
            ),
            heartbeats=HeartbeatWriter(services),
            epochs=EpochReader(services.engine, services.redis, services.keys),
        )
        state.edge_context = context
    return context


def client_address(request: Request) -> str | None:
    """The peer address (behind a proxy, run uvicorn with --proxy-headers to get the client's)."""
    return request.client.host if request.client else None
