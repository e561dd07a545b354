"""App lifespan: build `Services` once per process, or adopt the ones a test passes in.

A process that owns its app also freezes what start-up allocated (`gc.freeze`): modules,
the schema, compiled statements live as long as the process, and without the freeze every
full garbage collection walks them again (on the edge, a pause of ~80 ms every few hundred
proof-of-play batches, whose thousands of short-lived objects per request trigger them).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette

from core.bootstrap import Services, build_services
from core.config import Settings
from telemetry.process import start_process_metrics
from telemetry.tracing import instrument_engine


def services_lifespan(
    settings: Settings, services: Services | None, kind: str
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """`kind` (api, edge) names the process in its metrics; a process that owns its app also
    opens its metrics listener (`telemetry.process`)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or build_services(settings)
        metrics = None
        if owned:
            instrument_engine(app.state.services.engine)  # no-op unless tracing is on
            metrics = start_process_metrics(
                settings,
                kind,
                loop=asyncio.get_running_loop(),
                engine=app.state.services.engine,
                redis=app.state.services.redis,
            )
            gc.freeze()  # start-up objects live as long as the process (see above)
        try:
            yield
        finally:
            if owned:
                await app.state.services.close()
            if metrics is not None:
                metrics.stop()

    return lifespan
