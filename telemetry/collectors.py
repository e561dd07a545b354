"""Figures read when Prometheus scrapes, not counted as things happen: the Dramatiq queues
in Redis and the fleet in PostgreSQL. The scheduler exposes them (one process, so each figure
is reported once per scheduler; several schedulers report the same values, which dashboards
and alerts take the `max` of).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import redis
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from core.config import Settings
from core.db.engine import DbTimeouts, create_engine
from core.monitoring.figures import FleetFigures, read_fleet_figures

log = structlog.get_logger(__name__)

SCRAPE_TIMEOUT_S = 5.0


class QueueDepthCollector(Collector):
    """`signage_queue_messages{queue,state}` from Dramatiq's Redis keys (its RedisBroker's
    layout: `<ns>:<queue>` lists the ready message ids, `<ns>:<queue>.DQ.msgs` holds the
    delayed messages, `<ns>:<queue>.XQ` the dead-lettered ones)."""

    def __init__(self, settings: Settings, queues: Sequence[str]) -> None:
        if not settings.redis_url:
            raise ValueError("REDIS_URL is not set")
        self._client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=SCRAPE_TIMEOUT_S,
            socket_timeout=SCRAPE_TIMEOUT_S,
        )
        self._namespace = settings.redis_key_prefix + "dramatiq"
        self._queues = sorted({queue for queue in queues if not queue.endswith((".DQ", ".XQ"))})

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "signage_queue_messages",
            "Dramatiq messages per queue: ready to run, delayed, or dead-lettered.",
            labels=["queue", "state"],
        )
        try:
            pipe = self._client.pipeline(transaction=False)
            for queue in self._queues:
                key = f"{self._namespace}:{queue}"
                pipe.llen(key)
                pipe.hlen(f"{key}.DQ.msgs")
                pipe.zcard(f"{key}.XQ")
            counts = pipe.execute()
        except redis.RedisError as exc:
            log.warning("queue depths unreadable", error=type(exc).__name__)
            return []
        for index, queue in enumerate(self._queues):
            ready, delayed, dead = counts[3 * index : 3 * index + 3]
            family.add_metric([queue, "ready"], float(ready))
            family.add_metric([queue, "delayed"], float(delayed))
            family.add_metric([queue, "dead"], float(dead))
        return [family]

    def close(self) -> None:
        self._client.close()


class FleetCollector(Collector):
    """Devices by status, devices behind their plan, open incidents, pending plan changes."""

    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise ValueError("DATABASE_URL is not set")
        self._database_url = settings.database_url

    async def _read(self) -> FleetFigures:
        timeouts = DbTimeouts(
            statement_ms=int(SCRAPE_TIMEOUT_S * 1000),
            connect_s=SCRAPE_TIMEOUT_S,
            pool_s=SCRAPE_TIMEOUT_S,
        )
        engine = create_engine(self._database_url, pool_size=1, max_overflow=0, timeouts=timeouts)
        try:
            return await asyncio.wait_for(read_fleet_figures(engine), SCRAPE_TIMEOUT_S * 2)
        finally:
            await engine.dispose()

    def collect(self) -> Iterable[Metric]:
        success = GaugeMetricFamily(
            "signage_fleet_scrape_success",
            "1 when the fleet figures could be read from PostgreSQL at this scrape, else 0.",
        )
        try:
            figures = asyncio.run(self._read())
        except Exception as exc:  # an outage shows as 0 here, never as a failed scrape
            log.warning("fleet figures unreadable", error=type(exc).__name__)
            success.add_metric([], 0.0)
            return [success]
        success.add_metric([], 1.0)
        devices = GaugeMetricFamily("signage_devices", "Devices by status.", labels=["status"])
        for status, count in sorted(figures.devices_by_status.items()):
            devices.add_metric([status], float(count))
        behind = GaugeMetricFamily(
            "signage_devices_behind_plan",
            "Paired devices (online or offline) not running their latest plan, by sync state.",
            labels=["sync_state"],
        )
        for state, count in sorted(figures.behind_plan.items()):
            behind.add_metric([state], float(count))
        incidents = GaugeMetricFamily(
            "signage_incidents_open",
            "Incidents not resolved (open or acknowledged), by type and severity.",
            labels=["type", "severity"],
        )
        for (kind, severity), count in sorted(figures.open_incidents.items()):
            incidents.add_metric([kind, severity], float(count))
        pending = GaugeMetricFamily(
            "signage_plan_changes_pending",
            "Plan changes committed and not yet applied to every plan they touch.",
        )
        pending.add_metric([], float(figures.plan_changes_pending))
        return [success, devices, behind, incidents, pending]
