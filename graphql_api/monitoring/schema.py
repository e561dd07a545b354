"""Incidents and the fleet overview: queries and operator mutations."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from core.bootstrap import Services
from core.db.tables import incidents
from core.errors import NotFound
from core.monitoring import incidents as incident_service
from core.monitoring.queries import fleet_summary, get_incident, incidents_query
from graphql_api.context import AppInfo
from graphql_api.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from graphql_api.monitoring.inputs import IncidentFilter
from graphql_api.monitoring.types import FleetSummary, Incident, IncidentSuccess
from graphql_api.permissions import CanOperateIncidents, CanRead
from graphql_api.relay import Connection, PageArgs, by_created, paginate

IncidentActionResult = Annotated[
    IncidentSuccess | ValidationError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("IncidentActionResult"),
]

INCIDENTS_NEWEST_FIRST = by_created(incidents, descending=True)


async def load_summary(
    services: Services, store_id: uuid.UUID | None, group_id: uuid.UUID | None
) -> FleetSummary:
    async with services.engine.connect() as conn:
        summary = await fleet_summary(conn, store_id=store_id, group_id=group_id)
    return FleetSummary.from_core(summary, services.clock.now())


@strawberry.type
class MonitoringQuery:
    @strawberry.field(permission_classes=[CanRead], description="Incidents, newest first.")
    async def incidents(
        self,
        info: AppInfo,
        filter: IncidentFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Incident]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        stmt = incidents_query((filter or IncidentFilter()).to_core())
        return await paginate(info.context, stmt, INCIDENTS_NEWEST_FIRST, page, Incident.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def incident(self, info: AppInfo, id: uuid.UUID) -> Incident | None:
        async with info.context.services.engine.connect() as conn:
            try:
                return Incident.from_core(await get_incident(conn, id))
            except NotFound:
                return None

    @strawberry.field(
        permission_classes=[CanRead],
        description="Devices by status and unresolved incidents, optionally for one store "
        "or group (by the devices' current assignment).",
    )
    async def fleet_overview(
        self,
        info: AppInfo,
        store_id: uuid.UUID | None = None,
        group_id: uuid.UUID | None = None,
    ) -> FleetSummary:
        return await load_summary(info.context.services, store_id, group_id)


@strawberry.type
class MonitoringMutation:
    @strawberry.mutation(
        permission_classes=[CanOperateIncidents],
        description="Someone is on it. Acknowledging twice changes nothing; resolved "
        "incidents cannot be acknowledged.",
    )
    async def acknowledge_incident(
        self, info: AppInfo, id: uuid.UUID, note: str | None = None
    ) -> IncidentActionResult:
        incident = await incident_service.acknowledge_incident(
            info.context.services, info.context.require_actor(), id, note=note
        )
        return IncidentSuccess(incident=Incident.from_core(incident))

    @strawberry.mutation(
        permission_classes=[CanOperateIncidents],
        description="Mark fixed. If the condition still holds, the next sweep opens a new "
        "incident.",
    )
    async def resolve_incident(
        self, info: AppInfo, id: uuid.UUID, note: str | None = None
    ) -> IncidentActionResult:
        incident = await incident_service.resolve_incident(
            info.context.services, info.context.require_actor(), id, note=note
        )
        return IncidentSuccess(incident=Incident.from_core(incident))
