"""An events-bus outage is logged once when it starts and once when it ends, not twice a
second per process for as long as Redis is away (operators must still see it, and nothing
else)."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from core.bootstrap import Services
from core.events_bus import DEVICE_STATUS, EventBus
from tests.outages import OutageProxy, answered, until


async def test_an_outage_is_one_warning_and_one_recovery_line(
    services: Services, outage_services: Services, redis_proxy: OutageProxy
) -> None:
    bus = EventBus(outage_services.redis, outage_services.keys)
    async with bus.subscribe(DEVICE_STATUS) as events:
        with capture_logs() as logs:
            await redis_proxy.cut()
            await until(lambda: any("connection lost" in e["event"] for e in logs))
            # Several reconnect attempts fail meanwhile (one every 0.5 s).
            await asyncio.sleep(2.0)
            await redis_proxy.restore()

            async def delivered() -> dict[str, object]:
                while True:
                    await EventBus(services.redis, services.keys).publish(
                        DEVICE_STATUS, {"probe": 1}
                    )
                    try:
                        event = await asyncio.wait_for(events.__anext__(), 0.5)
                    except TimeoutError:
                        continue
                    return dict(event.payload)

            assert (await answered(delivered()))["probe"] == 1
        lost = [e for e in logs if "events bus connection lost" in e["event"]]
        restored = [e for e in logs if "events bus connection restored" in e["event"]]
        assert len(lost) == 1, lost
        assert len(restored) == 1, restored
        assert float(restored[0]["outage_s"]) > 0  # type: ignore[arg-type]
