"""The fleet at a glance, for the metrics an operator's Prometheus scrapes (`docs/metrics.md`).

Read at scrape time, in one short transaction of plain counts (no row leaves PostgreSQL but
one per status, state or incident kind), so the figures are as fresh as the scrape.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.enums import DeviceStatus, IncidentStatus, SyncState
from core.plans.outbox import pending_count


@dataclass(frozen=True)
class FleetFigures:
    devices_by_status: dict[str, int]
    # Paired devices (online or offline) not running their latest plan, by sync state.
    behind_plan: dict[str, int]
    # Open or acknowledged incidents, by (type, severity).
    open_incidents: dict[tuple[str, str], int]
    plan_changes_pending: int


_DEVICES = sa.text("SELECT status, count(*) AS n FROM devices GROUP BY status")
_BEHIND = sa.text(
    """
SELECT sync_state, count(*) AS n FROM devices
WHERE status IN (:online, :offline) AND sync_state <> :in_sync
GROUP BY sync_state
"""
)
_INCIDENTS = sa.text(
    """
SELECT type, severity, count(*) AS n FROM incidents
WHERE status <> :resolved
GROUP BY type, severity
"""
)


async def read_fleet_figures(engine: AsyncEngine) -> FleetFigures:
    async with engine.connect() as conn:
        devices = {str(status): 0 for status in DeviceStatus}
        devices.update({row.status: int(row.n) for row in await conn.execute(_DEVICES)})
        behind = {state.value: 0 for state in SyncState if state is not SyncState.IN_SYNC}
        rows = await conn.execute(
            _BEHIND,
            {
                "online": DeviceStatus.ONLINE.value,
                "offline": DeviceStatus.OFFLINE.value,
                "in_sync": SyncState.IN_SYNC.value,
            },
        )
        behind.update({row.sync_state: int(row.n) for row in rows})
        rows = await conn.execute(_INCIDENTS, {"resolved": IncidentStatus.RESOLVED.value})
        incidents = {(row.type, row.severity): int(row.n) for row in rows}
        pending = await pending_count(conn)
    return FleetFigures(devices, behind, incidents, pending)
