"""The aggregate day is the store's local calendar day, fixed at ingest."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text, update

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import stores
from tests.proof_of_play.builders import aggregate_rows, event, ingest, make_world

LA = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


async def days_by_store(services: Services) -> dict[object, dict[date, int]]:
    out: dict[object, dict[date, int]] = {}
    for (day, _, store, _), counts in (await aggregate_rows(services)).items():
        out.setdefault(store, {})[day] = counts[0]
    return out


async def test_late_evening_and_just_after_midnight_fall_on_local_days(
    services: Services,
) -> None:
    la = await make_world(services, "America/Los_Angeles")
    tokyo = await make_world(services, "Asia/Tokyo")
    # 23:30 on 1 March in LA is already 2 March in UTC; 00:30 on 2 March in Tokyo is 1 March UTC.
    la_late = local(LA, 2026, 3, 1, 23, 30)
    tokyo_early = local(TOKYO, 2026, 3, 2, 0, 30)
    assert la_late.astimezone(UTC).date() == date(2026, 3, 2)
    assert tokyo_early.astimezone(UTC).date() == date(2026, 3, 1)
    await ingest(
        services,
        la.device,
        [event(la, la_late), event(la, local(LA, 2026, 3, 2, 0, 30))],
    )
    await ingest(
        services,
        tokyo.device,
        [event(tokyo, local(TOKYO, 2026, 3, 1, 23, 30)), event(tokyo, tokyo_early)],
    )
    assert await days_by_store(services) == {
        la.store_id: {date(2026, 3, 1): 1, date(2026, 3, 2): 1},
        tokyo.store_id: {date(2026, 3, 1): 1, date(2026, 3, 2): 1},
    }


async def test_the_same_instant_is_a_different_day_in_each_store(services: Services) -> None:
    instant = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)  # 07:30 in LA, 00:30 next day in Tokyo
    la = await make_world(services, "America/Los_Angeles")
    tokyo = await make_world(services, "Asia/Tokyo")
    await ingest(services, la.device, [event(la, instant)])
    await ingest(services, tokyo.device, [event(tokyo, instant)])
    assert await days_by_store(services) == {
        la.store_id: {date(2026, 3, 1): 1},
        tokyo.store_id: {date(2026, 3, 2): 1},
    }


async def test_local_day_across_the_dst_change(services: Services, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    la = await make_world(services, "America/Los_Angeles")
    # 8 March 2026: LA springs forward; 23:30 PDT is 06:30 UTC on the 9th (UTC-7, not -8).
    await ingest(
        services,
        la.device,
        [
            event(la, local(LA, 2026, 3, 8, 23, 30)),
            event(la, datetime(2026, 3, 9, 7, 30, tzinfo=UTC)),  # 00:30 PDT on the 9th
            event(la, local(LA, 2026, 3, 7, 23, 30)),  # PST, 07:30 UTC on the 8th
        ],
    )
    assert await days_by_store(services) == {
        la.store_id: {date(2026, 3, 7): 1, date(2026, 3, 8): 1, date(2026, 3, 9): 1}
    }


async def test_the_local_day_is_fixed_at_ingest_even_if_the_store_moves_zone(
    services: Services,
) -> None:
    w = await make_world(services, "Asia/Tokyo")
    instant = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    await ingest(services, w.device, [event(w, instant)])
    async with services.engine.begin() as conn:
        await conn.execute(update(stores).values(timezone="UTC").where(stores.c.id == w.store_id))
        stored = (
            await conn.execute(text("SELECT local_day FROM proof_of_play_events"))
        ).scalar_one()
    assert stored == date(2026, 3, 2)
    assert (await days_by_store(services))[w.store_id] == {date(2026, 3, 2): 1}
