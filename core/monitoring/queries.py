"""Reads for the console: incident lists and the fleet summary."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.enums import DeviceStatus, IncidentStatus, IncidentType, Severity, SyncState
from core.db.rows import get_by_id
from core.db.tables import devices, incidents
from core.errors import ValidationFailed
from core.monitoring.models import FleetSummary, Incident, IncidentFilter


async def get_incident(conn: AsyncConnection, incident_id: uuid.UUID) -> Incident:
    return Incident.from_row(await get_by_id(conn, incidents, incident_id, what="incident"))


async def incidents_by_ids(
    conn: AsyncConnection, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Incident]:
    if not ids:
        return {}
    rows = await conn.execute(sa.select(incidents).where(incidents.c.id.in_(set(ids))))
    return {row.id: Incident.from_row(row) for row in rows}


def _where(flt: IncidentFilter) -> list[sa.ColumnElement[bool]]:
    if flt.created_from and flt.created_to and flt.created_from >= flt.created_to:
        raise ValidationFailed(
            "created_from must be before created_to",
            field="created_to",
            errors=[
                {
                    "field": "created_to",
                    "code": "invalid_date_range",
                    "message": "created_from must be before created_to",
                }
            ],
        )
    where: list[sa.ColumnElement[bool]] = []
    if flt.resolved is True:
        where.append(incidents.c.resolved_at.is_not(None))
    elif flt.resolved is False:
        where.append(incidents.c.resolved_at.is_(None))
    if flt.status is not None:
        where.append(incidents.c.status == flt.status.value)
    if flt.type is not None:
        where.append(incidents.c.type == flt.type.value)
    if flt.store_id is not None:
        where.append(incidents.c.store_id == flt.store_id)
    if flt.device_id is not None:
        where.append(incidents.c.device_id == flt.device_id)
    if flt.created_from is not None:
        where.append(incidents.c.created_at >= flt.created_from)
    if flt.created_to is not None:
        where.append(incidents.c.created_at < flt.created_to)
    return where


def incidents_query(flt: IncidentFilter) -> sa.Select[Any]:
    """Whole incident rows matching the filter, unordered (the caller pages them)."""
    return sa.select(incidents).where(*_where(flt))


async def fleet_summary(
    conn: AsyncConnection,
    *,
    store_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
) -> FleetSummary:
    """Device counts by status and sync state, and unresolved incident counts, in ONE
    statement (one snapshot), so the numbers always agree with each other. Scoped by the
    devices' current store and group when given."""
    scope: list[sa.ColumnElement[bool]] = []
    if store_id is not None:
        scope.append(devices.c.store_id == store_id)
    if group_id is not None:
        scope.append(devices.c.group_id == group_id)
    device_counts = (
        sa.select(
            sa.literal("device").label("kind"),
            devices.c.status.label("status"),
            devices.c.sync_state.label("type"),  # the device rows' second key
            sa.null().label("severity"),
            sa.func.count().label("n"),
        )
        .where(*scope)
        .group_by(devices.c.status, devices.c.sync_state)
    )
    incident_counts = (
        sa.select(
            sa.literal("incident").label("kind"),
            incidents.c.status,
            incidents.c.type,
            incidents.c.severity,
            sa.func.count().label("n"),
        )
        .select_from(incidents.join(devices, devices.c.id == incidents.c.device_id))
        .where(incidents.c.resolved_at.is_(None), *scope)
        .group_by(incidents.c.status, incidents.c.type, incidents.c.severity)
    )
    rows = (await conn.execute(sa.union_all(device_counts, incident_counts))).all()
    by_status = {status: 0 for status in DeviceStatus}
    by_type = {kind: 0 for kind in IncidentType}
    by_severity = {severity: 0 for severity in Severity}
    by_sync_state = {state: 0 for state in SyncState}
    unresolved = acknowledged = 0
    for row in rows:
        if row.kind == "device":
            by_status[DeviceStatus(row.status)] += row.n
            if row.status != DeviceStatus.DECOMMISSIONED.value:
                by_sync_state[SyncState(row.type)] += row.n
            continue
        unresolved += row.n
        by_type[IncidentType(row.type)] += row.n
        by_severity[Severity(row.severity)] += row.n
        if row.status == IncidentStatus.ACKNOWLEDGED.value:
            acknowledged += row.n
    return FleetSummary(
        devices_total=sum(by_status.values()),
        online=by_status[DeviceStatus.ONLINE],
        offline=by_status[DeviceStatus.OFFLINE],
        pending=by_status[DeviceStatus.PENDING],
        decommissioned=by_status[DeviceStatus.DECOMMISSIONED],
        open_incidents=unresolved,
        acknowledged_incidents=acknowledged,
        critical_incidents=by_severity[Severity.CRITICAL],
        incidents_by_type=by_type,
        incidents_by_severity=by_severity,
        by_sync_state=by_sync_state,
        not_in_sync=sum(n for state, n in by_sync_state.items() if state is not SyncState.IN_SYNC),
    )
