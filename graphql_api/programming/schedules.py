"""Schedule queries and mutations."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from core.db.tables import schedules
from core.schedules import models
from core.schedules import service as schedule_service
from core.schedules.service import SCHEDULE_SORT_NAME, schedules_query
from graphql_api.context import AppInfo
from graphql_api.errors import NotFoundError, PermissionDeniedError, ValidationError
from graphql_api.payloads import DeleteSuccess
from graphql_api.permissions import CanManageFleet, CanRead
from graphql_api.programming.inputs import ScheduleFilter, ScheduleInput
from graphql_api.programming.loaders import ScheduleByIdLoader
from graphql_api.programming.types import Schedule, ScheduleSuccess
from graphql_api.relay import Connection, PageArgs, by_sort_name, paginate

ScheduleResult = Annotated[
    ScheduleSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("ScheduleResult"),
]
DeleteScheduleResult = Annotated[
    DeleteSuccess | NotFoundError | PermissionDeniedError,
    strawberry.union("DeleteScheduleResult"),
]

SCHEDULES_BY_NAME = by_sort_name(schedules, SCHEDULE_SORT_NAME)


@strawberry.type
class ScheduleQuery:
    @strawberry.field(permission_classes=[CanRead], description="Schedules, by name.")
    async def schedules(
        self,
        info: AppInfo,
        filter: ScheduleFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Schedule]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or ScheduleFilter()
        stmt = schedules_query(
            models.ScheduleFilter(
                target_type=f.target_type,
                target_id=f.target_id,
                playlist_id=f.playlist_id,
                campaign_id=f.campaign_id,
                enabled=f.enabled,
            )
        )
        return await paginate(info.context, stmt, SCHEDULES_BY_NAME, page, Schedule.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def schedule(self, info: AppInfo, id: uuid.UUID) -> Schedule | None:
        row = await info.context.loaders.get(ScheduleByIdLoader).load(id)
        return Schedule.from_row(row) if row is not None else None


@strawberry.type
class ScheduleMutation:
    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Errors name the exact input, e.g. `rules.dayparts[0].start`.",
    )
    async def create_schedule(self, info: AppInfo, input: ScheduleInput) -> ScheduleResult:
        created = await schedule_service.create_schedule(
            info.context.services, info.context.require_actor(), input.to_core()
        )
        return ScheduleSuccess(schedule=Schedule.from_model(created))

    @strawberry.mutation(permission_classes=[CanManageFleet], description="Replace all fields.")
    async def update_schedule(
        self, info: AppInfo, id: uuid.UUID, input: ScheduleInput
    ) -> ScheduleResult:
        updated = await schedule_service.update_schedule(
            info.context.services, info.context.require_actor(), id, input.to_core()
        )
        return ScheduleSuccess(schedule=Schedule.from_model(updated))

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def set_schedule_enabled(
        self, info: AppInfo, id: uuid.UUID, enabled: bool
    ) -> ScheduleResult:
        changed = await schedule_service.set_schedule_enabled(
            info.context.services, info.context.require_actor(), id, enabled=enabled
        )
        return ScheduleSuccess(schedule=Schedule.from_model(changed))

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def delete_schedule(self, info: AppInfo, id: uuid.UUID) -> DeleteScheduleResult:
        await schedule_service.delete_schedule(
            info.context.services, info.context.require_actor(), id
        )
        return DeleteSuccess(id=id)
