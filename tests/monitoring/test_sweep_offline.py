"""The seeds' monitoring acceptance: a device goes offline after its threshold, and being
offline while its store is open raises one OFFLINE_DURING_HOURS incident, which clears by
itself when the device is back or the store closes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import device_status_transitions
from core.events_bus import DEVICE_STATUS, INCIDENTS, EventBus
from core.monitoring.sweep import run_sweep
from tests.conftest import T0
from tests.monitoring.factories import (
    device_row,
    incident_rows,
    make_device,
    make_group,
    make_store,
    update_device,
)

# T0 is Monday 2026-03-02 10:00 UTC = 11:00 in Berlin: the default store hours are open.


async def test_device_is_marked_offline_after_the_threshold(
    services: Services, clock: FrozenClock
) -> None:
    group = await make_group(services, {"heartbeat_interval_s": 60, "offline_threshold_s": 180})
    device = await make_device(services, group_id=group, last_seen_at=T0 - timedelta(seconds=180))

    result = await run_sweep(services)
    assert result.went_offline == []
    assert (await device_row(services, device)).status == "online"  # exactly 180 s: not yet

    clock.advance(timedelta(seconds=1))
    result = await run_sweep(services)
    assert [change.device_id for change in result.went_offline] == [device]
    row = await device_row(services, device)
    assert (row.status, row.status_changed_at) == ("offline", clock.now())

    async with services.engine.connect() as conn:
        transitions = (await conn.execute(sa.select(device_status_transitions))).all()
    assert [(t.device_id, t.from_status, t.to_status, t.reason, t.at) for t in transitions] == [
        (device, "online", "offline", "heartbeat_timeout", clock.now())
    ]

    again = await run_sweep(services)  # idempotent: nothing more to do
    assert again.ran and again.went_offline == []


async def test_thresholds_come_from_the_group_policy_with_defaults(services: Services) -> None:
    fast = await make_group(services, {"heartbeat_interval_s": 30})  # 3 x 30 = 90 s
    explicit = await make_group(services, {"heartbeat_interval_s": 30, "offline_threshold_s": 600})
    junk = await make_group(services, {"offline_threshold_s": "soon", "heartbeat_interval_s": -1})
    seen = T0 - timedelta(seconds=100)
    in_fast = await make_device(services, group_id=fast, last_seen_at=seen)
    in_explicit = await make_device(services, group_id=explicit, last_seen_at=seen)
    in_junk = await make_device(services, group_id=junk, last_seen_at=seen)  # default 180 s
    no_group = await make_device(services, last_seen_at=T0 - timedelta(seconds=181))
    pending = await make_device(services, status="pending", last_seen_at=None)
    retired = await make_device(
        services, status="decommissioned", last_seen_at=T0 - timedelta(days=3)
    )

    result = await run_sweep(services)

    assert {change.device_id for change in result.went_offline} == {in_fast, no_group}
    for device, status in [
        (in_explicit, "online"),
        (in_junk, "online"),
        (pending, "pending"),
        (retired, "decommissioned"),
    ]:
        assert (await device_row(services, device)).status == status


async def test_offline_during_store_hours_opens_one_critical_incident(
    services: Services,
) -> None:
    store = await make_store(services)  # Berlin, Mon-Fri 09:00-21:00
    device = await make_device(services, store_id=store, last_seen_at=T0 - timedelta(minutes=10))

    first = await run_sweep(services)
    second = await run_sweep(services)

    assert [i.device_id for i in first.opened] == [device]
    assert second.opened == [] and second.went_offline == []
    [incident] = await incident_rows(services)
    assert (incident.type, incident.severity, incident.status) == (
        "OFFLINE_DURING_HOURS",
        "CRITICAL",
        "OPEN",
    )
    assert incident.store_id == store and incident.resolved_at is None
    assert incident.created_at == T0
    assert incident.details_json["last_seen_at"].startswith("2026-03-02T09:50:00")


async def test_closed_hours_raise_no_incident(services: Services, clock: FrozenClock) -> None:
    closed_today = await make_store(services, hours={"sun": [{"open": "09:00", "close": "21:00"}]})
    never_open = await make_store(services, hours={})
    broken = await make_store(services, timezone="Mars/Olympus_Mons")
    stale = T0 - timedelta(hours=1)
    for store in (closed_today, never_open, broken):
        await make_device(services, store_id=store, last_seen_at=stale)
    await make_device(services, store_id=None, last_seen_at=stale)

    clock.set(T0.replace(hour=21))  # Monday 22:00 in Berlin: the default hours are closed too
    await make_device(services, store_id=await make_store(services), last_seen_at=stale)

    result = await run_sweep(services)

    assert len(result.went_offline) == 5
    assert result.opened == []
    assert await incident_rows(services) == []


async def test_hours_that_cross_midnight_count(services: Services, clock: FrozenClock) -> None:
    late = await make_store(
        services, timezone="America/New_York", hours={"fri": [{"open": "20:00", "close": "03:00"}]}
    )
    device = await make_device(services, store_id=late, status="offline")
    clock.set(T0.replace(day=7, hour=6, minute=30))  # Saturday 01:30 EST: Friday's interval

    opened = (await run_sweep(services)).opened

    assert [(i.device_id, i.type.value) for i in opened] == [(device, "OFFLINE_DURING_HOURS")]
    clock.set(T0.replace(day=7, hour=8, minute=0))  # Saturday 03:00 EST: closed
    resolved = (await run_sweep(services)).resolved
    assert [i.details["resolution"]["reason"] for i in resolved] == ["store_closed"]


async def test_incident_resolves_when_the_device_is_back_online(
    services: Services, clock: FrozenClock
) -> None:
    store = await make_store(services)
    device = await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))
    await run_sweep(services)

    clock.advance(timedelta(minutes=5))
    await update_device(services, device, status="online", last_seen_at=clock.now())
    result = await run_sweep(services)

    [resolved] = result.resolved
    assert resolved.device_id == device and resolved.status.value == "RESOLVED"
    assert resolved.resolved_at == clock.now() and resolved.resolved_by is None
    assert resolved.details["resolution"] == {
        "by": "auto",
        "reason": "device_online",
        "at": clock.now().isoformat(),
    }
    [row] = await incident_rows(services)
    assert (row.status, row.resolved_at) == ("RESOLVED", clock.now())


async def test_store_closing_resolves_and_reopening_raises_a_new_incident(
    services: Services, clock: FrozenClock
) -> None:
    store = await make_store(services)
    device = await make_device(services, store_id=store, status="offline")
    await run_sweep(services)

    clock.set(T0.replace(hour=20))  # 21:00 in Berlin: closed
    assert [i.details["resolution"]["reason"] for i in (await run_sweep(services)).resolved] == [
        "store_closed"
    ]
    clock.set(T0.replace(day=3, hour=8))  # Tuesday 09:00: open again, device still offline
    assert [i.device_id for i in (await run_sweep(services)).opened] == [device]
    rows = await incident_rows(services, device_id=device)
    assert [r.status for r in rows] == ["RESOLVED", "OPEN"]


async def test_decommissioning_resolves_everything(services: Services) -> None:
    store = await make_store(services)
    device = await make_device(services, store_id=store, status="offline")
    await run_sweep(services)
    await update_device(services, device, status="decommissioned")

    [resolved] = (await run_sweep(services)).resolved
    assert resolved.details["resolution"]["reason"] == "device_decommissioned"


async def test_concurrent_sweeps_leave_one_incident(services: Services) -> None:
    store = await make_store(services)
    for _ in range(20):
        await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))

    results = await asyncio.gather(*(run_sweep(services) for _ in range(4)))

    assert sum(len(r.went_offline) for r in results) == 20
    assert sum(len(r.opened) for r in results) == 20
    assert len(await incident_rows(services)) == 20
    async with services.engine.connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(device_status_transitions))
    assert count == 20


async def test_sweep_publishes_status_and_incident_events(services: Services) -> None:
    store = await make_store(services)
    group = await make_group(services)
    device = await make_device(
        services, store_id=store, group_id=group, last_seen_at=T0 - timedelta(hours=1)
    )
    bus = EventBus(services.redis, services.keys)

    async with bus.subscribe(DEVICE_STATUS, INCIDENTS) as events:
        await run_sweep(services)
        first = await asyncio.wait_for(anext(events), 5)
        second = await asyncio.wait_for(anext(events), 5)

    assert first.channel == DEVICE_STATUS
    assert first.payload == {
        "device_id": str(device),
        "store_id": str(store),
        "group_id": str(group),
        "status": "offline",
        "previous_status": "online",
        "last_seen_at": (T0 - timedelta(hours=1)).isoformat(),
    }
    assert second.channel == INCIDENTS
    assert second.payload["event"] == "opened"
    assert second.payload["incident"]["type"] == "OFFLINE_DURING_HOURS"
    assert second.payload["incident"]["device_id"] == str(device)
