"""App lifespan: build `Services` once per process, or adopt the ones a test passes in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette

from core.bootstrap import Services, build_services
from core.config import Settings


def services_lifespan(
    settings: Settings, services: Services | None
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or build_services(settings)
        try:
            yield
        finally:
            if owned:
                await app.state.services.close()

    return lifespan
