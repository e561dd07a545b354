"""Campaign queries and mutations."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from core.campaigns import models
from core.campaigns import service as campaign_service
from core.campaigns.service import CAMPAIGN_SORT_NAME, campaigns_query
from core.db.tables import campaigns
from graphql_api.context import AppInfo
from graphql_api.errors import NotFoundError, PermissionDeniedError, ValidationError
from graphql_api.payloads import DeleteSuccess
from graphql_api.permissions import CanManageFleet, CanRead
from graphql_api.programming.inputs import CampaignFilter, CampaignInput
from graphql_api.programming.loaders import CampaignByIdLoader
from graphql_api.programming.types import Campaign, CampaignSuccess
from graphql_api.relay import Connection, PageArgs, by_sort_name, paginate

CreateCampaignResult = Annotated[
    CampaignSuccess | ValidationError | PermissionDeniedError,
    strawberry.union("CreateCampaignResult"),
]
UpdateCampaignResult = Annotated[
    CampaignSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("UpdateCampaignResult"),
]
DeleteCampaignResult = Annotated[
    DeleteSuccess | NotFoundError | PermissionDeniedError,
    strawberry.union("DeleteCampaignResult"),
]

CAMPAIGNS_BY_NAME = by_sort_name(campaigns, CAMPAIGN_SORT_NAME)


@strawberry.type
class CampaignQuery:
    @strawberry.field(permission_classes=[CanRead], description="Campaigns, by name.")
    async def campaigns(
        self,
        info: AppInfo,
        filter: CampaignFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Campaign]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or CampaignFilter()
        stmt = campaigns_query(models.CampaignFilter(search=f.search, active_on=f.active_on))
        return await paginate(info.context, stmt, CAMPAIGNS_BY_NAME, page, Campaign.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def campaign(self, info: AppInfo, id: uuid.UUID) -> Campaign | None:
        row = await info.context.loaders.get(CampaignByIdLoader).load(id)
        return Campaign.from_row(row) if row is not None else None


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def create_campaign(self, info: AppInfo, input: CampaignInput) -> CreateCampaignResult:
        created = await campaign_service.create_campaign(
            info.context.services, info.context.require_actor(), input.to_core()
        )
        return CampaignSuccess(campaign=Campaign.from_model(created))

    @strawberry.mutation(permission_classes=[CanManageFleet], description="Replace all fields.")
    async def update_campaign(
        self, info: AppInfo, id: uuid.UUID, input: CampaignInput
    ) -> UpdateCampaignResult:
        updated = await campaign_service.update_campaign(
            info.context.services, info.context.require_actor(), id, input.to_core()
        )
        return CampaignSuccess(campaign=Campaign.from_model(updated))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Delete a campaign; its playlists and schedules stay, without a campaign.",
    )
    async def delete_campaign(self, info: AppInfo, id: uuid.UUID) -> DeleteCampaignResult:
        await campaign_service.delete_campaign(
            info.context.services, info.context.require_actor(), id
        )
        return DeleteSuccess(id=id)
