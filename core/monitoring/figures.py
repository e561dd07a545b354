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


# One pass over the devices gives both figures: by status, and behind plan by sync state.
_DEVICES = sa.text(
    "SELECT status, sync_state, count(*) AS n FROM devices GROUP BY status, sync_state"
)
_PAIRED = frozenset({DeviceStatus.ONLINE.value, DeviceStatus.OFFLINE.value})
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
        behind = {state.value: 0 for state in SyncState if state is not SyncState.IN_SYNC}
        for row in await conn.execute(_DEVICES):
            devices[row.status] = devices.get(row.status, 0) + int(row.n)
            if row.status in _PAIRED and row.sync_state != SyncState.IN_SYNC.value:
                behind[row.sync_state] = behind.get(row.sync_state, 0) + int(row.n)
        rows = await conn.execute(_INCIDENTS, {"resolved": IncidentStatus.RESOLVED.value})
        incidents = {(row.type, row.severity): int(row.n) for row in rows}
        pending = await pending_count(conn)
    return FleetFigures(devices, behind, incidents, pending)
