"""Figures read at scrape time: the fleet from PostgreSQL (`core.monitoring.figures`,
`telemetry.collectors.FleetCollector`) and the Dramatiq queues from Redis
(`QueueDepthCollector`), over this test's own database and Redis key prefix; and what each
reports when its backend is out of reach (a scrape never fails for it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import redis
import sqlalchemy as sa
from prometheus_client.metrics_core import Metric

from core.bootstrap import Services
from core.config import Settings
from core.db.enums import DeviceStatus, IncidentStatus, IncidentType, Severity, SyncState
from core.db.tables import incidents
from core.monitoring.figures import read_fleet_figures
from telemetry.collectors import FleetCollector, QueueDepthCollector
from tests.graphql_api.helpers import insert_devices
from tests.stack.support import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# (status, sync_state, how many)
FLEET = [
    (DeviceStatus.PENDING, SyncState.PENDING, 2),
    (DeviceStatus.PENDING, SyncState.FAILED, 1),  # not paired: never "behind"
    (DeviceStatus.ONLINE, SyncState.IN_SYNC, 4),
    (DeviceStatus.ONLINE, SyncState.PENDING, 2),
    (DeviceStatus.ONLINE, SyncState.DOWNLOADING, 1),
    (DeviceStatus.ONLINE, SyncState.FAILED, 1),
    (DeviceStatus.OFFLINE, SyncState.IN_SYNC, 1),
    (DeviceStatus.OFFLINE, SyncState.DOWNLOADING, 2),
    (DeviceStatus.OFFLINE, SyncState.FAILED, 1),
    (DeviceStatus.DECOMMISSIONED, SyncState.FAILED, 2),  # retired: never "behind"
    (DeviceStatus.DECOMMISSIONED, SyncState.PENDING, 1),
]
DEVICES = {"pending": 3, "online": 8, "offline": 4, "decommissioned": 3}
BEHIND = {"pending": 2, "downloading": 3, "failed": 2}
OPEN_INCIDENTS = {
    ("OFFLINE_DURING_HOURS", "CRITICAL"): 2,  # one open, one acknowledged
    ("LOW_STORAGE", "WARNING"): 1,
    ("DOWNLOAD_FAIL", "INFO"): 1,
}


async def make_fleet(services: Services) -> list[uuid.UUID]:
    rows: list[dict[str, Any]] = [
        {"status": status.value, "sync_state": state.value}
        for status, state, count in FLEET
        for _ in range(count)
    ]
    return await insert_devices(services, rows)


async def make_incidents(services: Services, devices: list[uuid.UUID]) -> None:
    now = datetime.now(UTC)

    def incident(
        device: uuid.UUID, kind: IncidentType, severity: Severity, status: IncidentStatus
    ) -> dict[str, Any]:
        return {
            "device_id": device,
            "type": kind.value,
            "severity": severity.value,
            "status": status.value,
            "acknowledged_at": now if status is IncidentStatus.ACKNOWLEDGED else None,
            "resolved_at": now if status is IncidentStatus.RESOLVED else None,
        }

    rows = [
        incident(
            devices[0], IncidentType.OFFLINE_DURING_HOURS, Severity.CRITICAL, IncidentStatus.OPEN
        ),
        incident(
            devices[1],
            IncidentType.OFFLINE_DURING_HOURS,
            Severity.CRITICAL,
            IncidentStatus.ACKNOWLEDGED,
        ),
        incident(devices[0], IncidentType.LOW_STORAGE, Severity.WARNING, IncidentStatus.OPEN),
        incident(devices[2], IncidentType.DOWNLOAD_FAIL, Severity.INFO, IncidentStatus.OPEN),
        # resolved ones are history, not open incidents
        incident(
            devices[0],
            IncidentType.OFFLINE_DURING_HOURS,
            Severity.CRITICAL,
            IncidentStatus.RESOLVED,
        ),
        incident(devices[3], IncidentType.CRASH_LOOP, Severity.CRITICAL, IncidentStatus.RESOLVED),
    ]
    async with services.uow() as uow:
        await uow.conn.execute(sa.insert(incidents), rows)
        await uow.commit()


def samples(metrics: Iterable[Metric]) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in metrics
        for sample in metric.samples
    }


def by_label(found: Samples, name: str, *labels: str) -> dict[Any, float]:
    """The samples called `name`, keyed by the values of `labels` (one: the value itself)."""
    picked: dict[Any, float] = {}
    for (sample_name, pairs), value in found.items():
        if sample_name == name:
            values = dict(pairs)
            key = tuple(values[label] for label in labels)
            picked[key[0] if len(key) == 1 else key] = value
    return picked


# --- core.monitoring.figures -------------------------------------------------------------------


async def test_an_empty_fleet_reads_as_zeros(services: Services) -> None:
    figures = await read_fleet_figures(services.engine)
    assert figures.devices_by_status == {status.value: 0 for status in DeviceStatus}
    assert figures.behind_plan == {"pending": 0, "downloading": 0, "failed": 0}
    assert figures.open_incidents == {}
    assert figures.plan_changes_pending == 0


async def test_fleet_figures_count_exactly(services: Services) -> None:
    devices = await make_fleet(services)
    await make_incidents(services, devices)

    figures = await read_fleet_figures(services.engine)
    assert figures.devices_by_status == DEVICES
    assert figures.behind_plan == BEHIND
    assert "in_sync" not in figures.behind_plan
    assert figures.open_incidents == OPEN_INCIDENTS
    assert figures.plan_changes_pending == 0


# --- telemetry.collectors.FleetCollector -------------------------------------------------------


async def test_the_fleet_collector_reports_the_same_figures(
    services: Services, settings: Settings
) -> None:
    devices = await make_fleet(services)
    await make_incidents(services, devices)

    found = samples(await asyncio.to_thread(FleetCollector(settings).collect))
    assert found[("signage_fleet_scrape_success", ())] == 1.0
    assert by_label(found, "signage_devices", "status") == DEVICES
    assert by_label(found, "signage_devices_behind_plan", "sync_state") == BEHIND
    assert by_label(found, "signage_incidents_open", "type", "severity") == OPEN_INCIDENTS
    assert found[("signage_plan_changes_pending", ())] == 0.0
    names = {name for name, _ in found}
    assert names == {
        "signage_fleet_scrape_success",
        "signage_devices",
        "signage_devices_behind_plan",
        "signage_incidents_open",
        "signage_plan_changes_pending",
    }


async def test_the_fleet_collector_follows_the_database(
    services: Services, settings: Settings
) -> None:
    collector = FleetCollector(settings)
    before = samples(await asyncio.to_thread(collector.collect))
    assert by_label(before, "signage_devices", "status")["online"] == 0
    await insert_devices(services, [{"status": "online", "sync_state": "failed"}])
    after = samples(await asyncio.to_thread(collector.collect))  # read anew at each scrape
    assert by_label(after, "signage_devices", "status")["online"] == 1
    assert by_label(after, "signage_devices_behind_plan", "sync_state")["failed"] == 1


async def test_an_unreachable_database_reads_as_scrape_failure(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={"database_url": f"postgresql://x@127.0.0.1:{free_port()}/x"}
    )
    found = samples(await asyncio.to_thread(FleetCollector(unreachable).collect))
    assert found == {("signage_fleet_scrape_success", ()): 0.0}


# --- telemetry.collectors.QueueDepthCollector --------------------------------------------------


def fill_queue(settings: Settings, queue: str, ready: int, delayed: int, dead: int) -> None:
    assert settings.redis_url
    key = f"{settings.redis_key_prefix}dramatiq:{queue}"
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for _ in range(ready):
            client.lpush(key, str(uuid.uuid4()))
        for _ in range(delayed):
            client.hset(f"{key}.DQ.msgs", str(uuid.uuid4()), b"{}")
        for index in range(dead):
            client.zadd(f"{key}.XQ", {str(uuid.uuid4()): float(index)})
    finally:
        client.close()


async def test_queue_depths_by_state(settings: Settings) -> None:
    await asyncio.to_thread(fill_queue, settings, "planning", 3, 2, 1)
    await asyncio.to_thread(fill_queue, settings, "other", 5, 5, 5)  # not asked about
    collector = QueueDepthCollector(settings, ["planning", "planning.DQ", "planning.XQ"])
    try:
        found = samples(await asyncio.to_thread(collector.collect))
    finally:
        collector.close()
    assert by_label(found, "signage_queue_messages", "queue", "state") == {
        ("planning", "ready"): 3,
        ("planning", "delayed"): 2,
        ("planning", "dead"): 1,
    }


async def test_empty_queues_read_as_zeros(settings: Settings) -> None:
    collector = QueueDepthCollector(settings, ["monitoring", "maintenance.DQ", "maintenance"])
    try:
        found = samples(await asyncio.to_thread(collector.collect))
    finally:
        collector.close()
    assert by_label(found, "signage_queue_messages", "queue", "state") == {
        (queue, state): 0
        for queue in ("maintenance", "monitoring")
        for state in ("ready", "delayed", "dead")
    }


async def test_queue_depths_are_read_under_this_deployments_prefix(settings: Settings) -> None:
    """Another deployment's queues (another key prefix) on the same Redis are not counted."""
    other = settings.model_copy(update={"redis_key_prefix": settings.redis_key_prefix + "other:"})
    await asyncio.to_thread(fill_queue, other, "planning", 4, 0, 0)
    collector = QueueDepthCollector(settings, ["planning"])
    try:
        found = samples(await asyncio.to_thread(collector.collect))
    finally:
        collector.close()
    assert by_label(found, "signage_queue_messages", "queue", "state")[("planning", "ready")] == 0


async def test_an_unreachable_redis_yields_nothing(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    collector = QueueDepthCollector(unreachable, ["planning"])
    try:
        assert list(await asyncio.to_thread(collector.collect)) == []
    finally:
        collector.close()
