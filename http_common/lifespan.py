"""App lifespan: build `Services` once per process, or adopt the ones a test passes in.

A process that owns its app also freezes what start-up allocated (`gc.freeze`): modules,
the schema, compiled statements live as long as the process, and without the freeze every
full garbage collection walks them again (on the edge, a pause of ~80 ms every few hundred
proof-of-play batches, whose thousands of short-lived objects per request trigger them).
"""

from __future__ import annotations

import gc
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
        if owned:
            gc.freeze()  # start-up objects live as long as the process (see above)
        try:
            yield
        finally:
            if owned:
                await app.state.services.close()

    return lifespan
