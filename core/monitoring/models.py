"""Plain values the monitoring services return."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.db.enums import DeviceStatus, IncidentStatus, IncidentType, Severity, SyncState


@dataclass(frozen=True)
class Incident:
    id: uuid.UUID
    device_id: uuid.UUID
    store_id: uuid.UUID | None
    type: IncidentType
    severity: Severity
    status: IncidentStatus
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None

    @classmethod
    def from_row(cls, row: Any) -> Incident:
        return cls(
            id=row.id,
            device_id=row.device_id,
            store_id=row.store_id,
            type=IncidentType(row.type),
            severity=Severity(row.severity),
            status=IncidentStatus(row.status),
            details=dict(row.details_json or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            resolved_at=row.resolved_at,
            resolved_by=row.resolved_by,
        )


@dataclass(frozen=True)
class StatusChange:
    device_id: uuid.UUID
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    status: DeviceStatus
    previous_status: DeviceStatus | None
    last_seen_at: datetime | None


@dataclass(frozen=True)
class SweepResult:
    ran: bool  # False when another sweep held the lock
    went_offline: list[StatusChange] = field(default_factory=list)
    opened: list[Incident] = field(default_factory=list)
    resolved: list[Incident] = field(default_factory=list)
    open_store_count: int = 0
    # Devices some rule could not evaluate (a value it cannot read), with those rules'
    # incident types: skipped for those rules in this sweep, judged for every other one.
    skipped: dict[uuid.UUID, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentFilter:
    """`resolved`: True = only resolved, False = only unresolved (open or acknowledged).
    `created_from`/`created_to` bound `created_at` as [from, to)."""

    resolved: bool | None = None
    status: IncidentStatus | None = None
    type: IncidentType | None = None
    store_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class FleetSummary:
    """Counts that equal the rows they summarise (one snapshot, one transaction)."""

    devices_total: int
    online: int
    offline: int
    pending: int
    decommissioned: int
    open_incidents: int  # unresolved: OPEN or ACKNOWLEDGED
    acknowledged_incidents: int
    critical_incidents: int  # unresolved CRITICAL
    incidents_by_type: dict[IncidentType, int]
    incidents_by_severity: dict[Severity, int]
    # Convergence of the active devices (decommissioned excluded), by sync state.
    by_sync_state: dict[SyncState, int]
    not_in_sync: int  # every state but IN_SYNC
