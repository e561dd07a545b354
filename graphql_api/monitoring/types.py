"""GraphQL types of incidents, live status changes and the fleet summary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from core.devices.sync_events import SyncStateEvent
from core.monitoring.models import FleetSummary as CoreFleetSummary
from core.monitoring.models import Incident as CoreIncident
from core.monitoring.models import StatusChange
from graphql_api.context import AppInfo
from graphql_api.copying import copy_fields
from graphql_api.fleet.enums import DeviceStatus, SyncState
from graphql_api.fleet.loaders import DeviceByIdLoader, StoreByIdLoader
from graphql_api.fleet.types import Device, Store
from graphql_api.monitoring.enums import IncidentEventKind, IncidentStatus, IncidentType, Severity


async def _device(info: AppInfo, device_id: uuid.UUID | None) -> Device | None:
    if device_id is None:
        return None
    row = await info.context.loaders.get(DeviceByIdLoader).load(device_id)
    return Device.from_row(row) if row is not None else None


async def _store(info: AppInfo, store_id: uuid.UUID | None) -> Store | None:
    if store_id is None:
        return None
    row = await info.context.loaders.get(StoreByIdLoader).load(store_id)
    return Store.from_row(row) if row is not None else None


@strawberry.type(description="A problem with one device; at most one unresolved per type.")
class Incident:
    id: uuid.UUID
    device_id: uuid.UUID
    store_id: uuid.UUID | None = strawberry.field(
        description="The device's store when the incident opened."
    )
    type: IncidentType
    severity: Severity
    status: IncidentStatus
    details: JSON = strawberry.field(
        description="What the rule saw (e.g. disk usage), and `resolution` once resolved."
    )
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None = strawberry.field(
        description="The operator who resolved it; null when it resolved by itself."
    )

    @strawberry.field
    async def device(self, info: AppInfo) -> Device | None:
        return await _device(info, self.device_id)

    @strawberry.field
    async def store(self, info: AppInfo) -> Store | None:
        return await _store(info, self.store_id)

    @classmethod
    def from_core(cls, incident: CoreIncident) -> Incident:
        return copy_fields(cls, incident, details=JSON(incident.details))

    @classmethod
    def from_row(cls, row: Any) -> Incident:
        return cls.from_core(CoreIncident.from_row(row))


@strawberry.type
class IncidentSuccess:
    incident: Incident


@strawberry.type(description="An incident opened, changed (e.g. acknowledged) or resolved.")
class IncidentEvent:
    kind: IncidentEventKind
    incident: Incident


@strawberry.type(description="A device went online or offline (or changed status otherwise).")
class DeviceStatusChange:
    device_id: uuid.UUID
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    status: DeviceStatus
    previous_status: DeviceStatus | None
    last_seen_at: datetime | None

    @strawberry.field
    async def device(self, info: AppInfo) -> Device | None:
        return await _device(info, self.device_id)

    @classmethod
    def from_core(cls, change: StatusChange) -> DeviceStatusChange:
        return copy_fields(cls, change)


@strawberry.type(description="A device entered another sync state (docs/convergence.md).")
class DeviceSyncStateChange:
    device_id: uuid.UUID
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    sync_state: SyncState
    previous_sync_state: SyncState | None
    sync_state_since: datetime = strawberry.field(description="When it entered `syncState`.")
    desired_plan_etag: str | None
    reported_plan_etag: str | None

    @strawberry.field
    async def device(self, info: AppInfo) -> Device | None:
        return await _device(info, self.device_id)

    @classmethod
    def from_core(cls, change: SyncStateEvent) -> DeviceSyncStateChange:
        return copy_fields(cls, change, sync_state_since=change.since)


@strawberry.type
class IncidentTypeCount:
    type: IncidentType
    count: int


@strawberry.type
class IncidentSeverityCount:
    severity: Severity
    count: int


@strawberry.type
class SyncStateCount:
    sync_state: SyncState
    count: int


@strawberry.type(
    description="Device counts by status and sync state, and unresolved incident counts, "
    "from one snapshot."
)
class FleetSummary:
    devices_total: int = strawberry.field(description="Every device, decommissioned included.")
    online: int
    offline: int
    pending: int
    decommissioned: int
    open_incidents: int = strawberry.field(description="Unresolved: OPEN or ACKNOWLEDGED.")
    acknowledged_incidents: int
    critical_incidents: int = strawberry.field(description="Unresolved and CRITICAL.")
    incidents_by_type: list[IncidentTypeCount]
    incidents_by_severity: list[IncidentSeverityCount]
    devices_by_sync_state: list[SyncStateCount] = strawberry.field(
        description="Convergence: active devices (decommissioned excluded) per sync state, "
        "every state listed."
    )
    not_in_sync: int = strawberry.field(
        description="Active devices PENDING, DOWNLOADING or FAILED."
    )
    generated_at: datetime

    @classmethod
    def from_core(cls, summary: CoreFleetSummary, generated_at: datetime) -> FleetSummary:
        return copy_fields(
            cls,
            summary,
            incidents_by_type=[
                IncidentTypeCount(type=kind, count=count)
                for kind, count in summary.incidents_by_type.items()
            ],
            incidents_by_severity=[
                IncidentSeverityCount(severity=severity, count=count)
                for severity, count in summary.incidents_by_severity.items()
            ],
            devices_by_sync_state=[
                SyncStateCount(sync_state=state, count=count)
                for state, count in summary.by_sync_state.items()
            ],
            generated_at=generated_at,
        )
