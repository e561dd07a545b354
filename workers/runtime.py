"""One `Services` per worker process, created lazily on the AsyncIO middleware's loop."""

from __future__ import annotations

from core.bootstrap import Services, build_services
from core.config import get_settings
from telemetry.tracing import instrument_engine

_services: Services | None = None


async def services() -> Services:
    global _services
    if _services is None:
        _services = build_services(get_settings())
        instrument_engine(_services.engine)  # no-op unless tracing is on
        from workers.metrics import watch

        watch(_services)
    return _services


def override_services(value: Services | None) -> None:
    """Tests point actors at their own databases."""
    global _services
    _services = value
