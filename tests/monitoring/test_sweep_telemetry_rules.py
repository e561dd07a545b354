"""Each telemetry rule opens its incident, keeps one open, and resolves it by itself."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import content, content_versions
from core.monitoring.models import Incident
from core.monitoring.sweep import run_sweep
from tests.conftest import T0
from tests.monitoring.factories import make_device, make_group, update_device

CAP = 1000


async def sweep_types(services: Services) -> tuple[list[str], list[str]]:
    """(types opened, types resolved) by one sweep."""
    result = await run_sweep(services)
    return sorted(i.type.value for i in result.opened), sorted(
        i.type.value for i in result.resolved
    )


async def healthy_device(services: Services, **telemetry: Any) -> Any:
    group = await make_group(services, {"storage_cap_bytes": CAP})
    return await make_device(services, group_id=group, last_seen_at=T0, **telemetry)


async def test_low_storage_opens_at_90_percent_and_clears_below_85(services: Services) -> None:
    device = await healthy_device(services, disk_used_bytes=899)
    assert await sweep_types(services) == ([], [])

    await update_device(services, device, disk_used_bytes=900)
    result = await run_sweep(services)
    [incident] = result.opened
    assert (incident.type.value, incident.severity.value) == ("LOW_STORAGE", "WARNING")
    assert incident.details == {
        "disk_used_bytes": 900,
        "storage_cap_bytes": CAP,
        "used_percent": 90.0,
    }

    await update_device(services, device, disk_used_bytes=850)  # hysteresis: still open
    assert await sweep_types(services) == ([], [])
    await update_device(services, device, disk_used_bytes=849)
    assert await sweep_types(services) == ([], ["LOW_STORAGE"])


async def test_low_storage_needs_a_cap(services: Services) -> None:
    await make_device(services, last_seen_at=T0, disk_used_bytes=10**12)  # no group
    group = await make_group(services, {"storage_cap_bytes": "lots"})
    await make_device(services, group_id=group, last_seen_at=T0, disk_used_bytes=10**12)
    assert await sweep_types(services) == ([], [])


async def test_download_fail_from_last_error_or_consecutive_failures(services: Services) -> None:
    by_error = await healthy_device(services, last_error="Download failed: HTTP 404 for a1b2")
    by_counter = await healthy_device(services, counters_json={"download_failures": 3})
    retrying = await healthy_device(services, counters_json={"download_failures": 2})
    await healthy_device(services, last_error="decoder crashed", counters_json={"uptime_s": 5})

    result = await run_sweep(services)
    assert sorted((i.device_id, i.type.value) for i in result.opened) == sorted(
        [(by_error, "DOWNLOAD_FAIL"), (by_counter, "DOWNLOAD_FAIL")]
    )
    details = {i.device_id: i.details for i in result.opened}
    assert details[by_error]["last_error"].startswith("Download failed")
    assert details[by_counter]["download_failures"] == 3

    await update_device(services, retrying, counters_json={"download_failures": 3})
    await update_device(services, by_counter, counters_json={"download_failures": 1})  # holds
    await update_device(services, by_error, last_error=None)
    assert await sweep_types(services) == (["DOWNLOAD_FAIL"], ["DOWNLOAD_FAIL"])
    await update_device(services, by_counter, counters_json={"download_failures": 0})
    assert await sweep_types(services) == ([], ["DOWNLOAD_FAIL"])


async def test_crash_loop_until_an_hour_without_crashes(services: Services) -> None:
    device = await healthy_device(services, counters_json={"crashes_1h": 2})
    await healthy_device(services, counters_json={"crashes_1h": "9"})  # not a number
    assert await sweep_types(services) == ([], [])

    await update_device(services, device, counters_json={"crashes_1h": 3})
    [incident] = (await run_sweep(services)).opened
    assert (incident.type.value, incident.severity.value) == ("CRASH_LOOP", "CRITICAL")
    assert incident.details == {"crashes_1h": 3}

    await update_device(services, device, counters_json={"crashes_1h": 1})
    assert await sweep_types(services) == ([], [])
    await update_device(services, device, counters_json={"crashes_1h": 0})
    assert await sweep_types(services) == ([], ["CRASH_LOOP"])


async def make_version(services: Services, duration_ms: int | None) -> dict[str, str]:
    """A content version; returns how a player names it in `now_playing`."""
    version_hash = uuid.uuid4().hex
    async with services.engine.begin() as conn:
        content_id = (
            await conn.execute(
                sa.insert(content).values(name="spot", type="video").returning(content.c.id)
            )
        ).scalar_one()
        await conn.execute(
            sa.insert(content_versions).values(
                content_id=content_id,
                version_number=1,
                version_hash=version_hash,
                storage_key=f"k/{version_hash}",
                url=f"https://cdn.test/{version_hash}",
                sha256="0" * 64,
                bytes=1,
                mime="video/mp4",
                duration_ms=duration_ms,
            )
        )
    return {"content_id": str(content_id), "content_version": "1", "hash": version_hash}


def now_playing(started: Any, **extra: Any) -> dict[str, Any]:
    started_at = started if isinstance(started, str) else started.isoformat()
    extra.pop("hash", None)
    return {"started_at": started_at, **extra}


async def test_playback_stuck_when_an_item_outlives_its_duration_plus_grace(
    services: Services, clock: FrozenClock
) -> None:
    version = await make_version(services, 30_000)
    # A 30 s item started 2 min 31 s before the last heartbeat: 1 s past duration + 120 s.
    stuck_since = (T0 - timedelta(seconds=151)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stuck = await healthy_device(services, now_playing_json=now_playing(stuck_since, **version))
    on_time = now_playing(T0 - timedelta(seconds=150), **version)
    await healthy_device(services, now_playing_json=on_time)
    for unknown in (
        {**version, "content_version": "2"},
        {**version, "content_id": str(uuid.uuid4())},
        {**version, "content_id": "not-a-uuid"},
    ):
        await healthy_device(
            services, now_playing_json=now_playing(T0 - timedelta(hours=1), **unknown)
        )
    impossible = now_playing("2026-02-30T10:00:00+00:00", **version)
    await healthy_device(services, now_playing_json=impossible)
    await healthy_device(services, now_playing_json=now_playing("yesterday", position_ms=0))
    await healthy_device(services, now_playing_json=None)

    result = await run_sweep(services)

    [incident] = result.opened
    assert (incident.device_id, incident.type.value, incident.severity.value) == (
        stuck,
        "PLAYBACK_STUCK",
        "WARNING",
    )
    assert incident.details["expected_end_at"] == "2026-03-02T09:57:59+00:00"
    assert incident.details["reason"] == "overran"

    clock.advance(timedelta(seconds=60))
    playing = now_playing(clock.now() - timedelta(seconds=5), **version)
    await update_device(services, stuck, last_seen_at=clock.now(), now_playing_json=playing)
    assert await sweep_types(services) == ([], ["PLAYBACK_STUCK"])


async def test_the_playing_version_may_be_named_by_its_hash(services: Services) -> None:
    version = await make_version(services, 30_000)
    by_hash = {"content_id": version["content_id"], "content_version": version["hash"]}
    device = await healthy_device(
        services, now_playing_json=now_playing(T0 - timedelta(minutes=5), **by_hash)
    )
    [incident] = (await run_sweep(services)).opened
    assert (incident.device_id, incident.details["item_duration_ms"]) == (device, 30_000)


async def test_playback_stuck_when_the_position_stops_advancing(services: Services) -> None:
    started = T0 - timedelta(minutes=10)
    frozen = await healthy_device(
        services, now_playing_json=now_playing(started, position_ms=5_000)
    )
    await healthy_device(  # a long web page that keeps counting: fine
        services, now_playing_json=now_playing(started, position_ms=599_000)
    )

    [incident] = (await run_sweep(services)).opened

    assert (incident.device_id, incident.details["reason"]) == (frozen, "position_stalled")


async def test_telemetry_of_an_offline_device_keeps_its_incidents(
    services: Services, clock: FrozenClock
) -> None:
    device = await healthy_device(services, counters_json={"crashes_1h": 5})
    [opened] = (await run_sweep(services)).opened
    clock.advance(timedelta(hours=2))  # no more heartbeats: the device goes offline
    result = await run_sweep(services)
    assert [c.device_id for c in result.went_offline] == [device]
    assert result.resolved == [] and result.opened == []
    assert isinstance(opened, Incident)


async def test_each_type_stays_single_while_its_condition_holds(services: Services) -> None:
    await healthy_device(
        services,
        disk_used_bytes=CAP,
        last_error="download: timeout",
        counters_json={"crashes_1h": 10},
        now_playing_json=now_playing(T0 - timedelta(hours=1), position_ms=0),
    )
    first = await sweep_types(services)
    assert first == (["CRASH_LOOP", "DOWNLOAD_FAIL", "LOW_STORAGE", "PLAYBACK_STUCK"], [])
    assert await sweep_types(services) == ([], [])
