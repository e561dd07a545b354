"""Backends out of reach, for the tests of what the edges answer then (503, never 500)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.bootstrap import Services, build_services


def closed_port() -> int:
    """A local port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def services_without_redis(services: Services) -> AsyncIterator[Services]:
    """`services`' settings and clock, with Redis pointed at a closed port."""
    settings = services.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{closed_port()}/0"}
    )
    broken = build_services(settings, clock=services.clock)
    try:
        yield broken
    finally:
        await broken.close()
