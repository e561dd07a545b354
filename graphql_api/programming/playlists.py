"""Playlist and playlist item queries and mutations."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from core.db.tables import playlists
from core.playlists import items as item_service
from core.playlists import models
from core.playlists import service as playlist_service
from core.playlists.queries import PLAYLIST_SORT_NAME, playlists_query
from graphql_api.context import AppInfo
from graphql_api.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from graphql_api.payloads import DeleteSuccess
from graphql_api.permissions import CanManageFleet, CanRead
from graphql_api.programming.inputs import AddPlaylistItemInput, CreatePlaylistInput, PlaylistFilter
from graphql_api.programming.loaders import PlaylistByIdLoader
from graphql_api.programming.types import (
    Playlist,
    PlaylistItem,
    PlaylistItemSuccess,
    PlaylistSuccess,
)
from graphql_api.relay import Connection, PageArgs, by_sort_name, paginate

CreatePlaylistResult = Annotated[
    PlaylistSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("CreatePlaylistResult"),
]
UpdatePlaylistResult = Annotated[
    PlaylistSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("UpdatePlaylistResult"),
]
DeletePlaylistResult = Annotated[
    DeleteSuccess | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("DeletePlaylistResult"),
]
PlaylistItemResult = Annotated[
    PlaylistItemSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("PlaylistItemResult"),
]

PLAYLISTS_BY_NAME = by_sort_name(playlists, PLAYLIST_SORT_NAME)


async def _playlist(info: AppInfo, playlist_id: uuid.UUID) -> PlaylistSuccess:
    row = await info.context.loaders.get(PlaylistByIdLoader).load(playlist_id)
    assert row is not None  # the mutation just locked and changed it
    return PlaylistSuccess(playlist=Playlist.from_row(row))


@strawberry.type
class PlaylistQuery:
    @strawberry.field(permission_classes=[CanRead], description="Playlists, by name.")
    async def playlists(
        self,
        info: AppInfo,
        filter: PlaylistFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Playlist]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or PlaylistFilter()
        stmt = playlists_query(models.PlaylistFilter(campaign_id=f.campaign_id, search=f.search))
        return await paginate(info.context, stmt, PLAYLISTS_BY_NAME, page, Playlist.from_row)

    @strawberry.field(permission_classes=[CanRead])
    async def playlist(self, info: AppInfo, id: uuid.UUID) -> Playlist | None:
        row = await info.context.loaders.get(PlaylistByIdLoader).load(id)
        return Playlist.from_row(row) if row is not None else None


@strawberry.type
class PlaylistMutation:
    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def create_playlist(
        self, info: AppInfo, input: CreatePlaylistInput
    ) -> CreatePlaylistResult:
        created = await playlist_service.create_playlist(
            info.context.services,
            info.context.require_actor(),
            name=input.name,
            campaign_id=input.campaign_id,
        )
        return PlaylistSuccess(playlist=Playlist.from_model(created))

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def rename_playlist(
        self, info: AppInfo, id: uuid.UUID, name: str
    ) -> UpdatePlaylistResult:
        renamed = await playlist_service.rename_playlist(
            info.context.services, info.context.require_actor(), id, name=name
        )
        return PlaylistSuccess(playlist=Playlist.from_model(renamed))

    @strawberry.mutation(
        permission_classes=[CanManageFleet], description="Attach to a campaign, or detach (null)."
    )
    async def set_playlist_campaign(
        self, info: AppInfo, id: uuid.UUID, campaign_id: uuid.UUID | None
    ) -> UpdatePlaylistResult:
        changed = await playlist_service.set_playlist_campaign(
            info.context.services, info.context.require_actor(), id, campaign_id=campaign_id
        )
        return PlaylistSuccess(playlist=Playlist.from_model(changed))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Delete a playlist no schedule or group default uses (else IN_USE).",
    )
    async def delete_playlist(self, info: AppInfo, id: uuid.UUID) -> DeletePlaylistResult:
        await playlist_service.delete_playlist(
            info.context.services, info.context.require_actor(), id
        )
        return DeleteSuccess(id=id)

    @strawberry.mutation(permission_classes=[CanManageFleet], description="Append an item.")
    async def add_playlist_item(
        self, info: AppInfo, input: AddPlaylistItemInput
    ) -> PlaylistItemResult:
        item = await item_service.add_item(
            info.context.services,
            info.context.require_actor(),
            input.playlist_id,
            content_id=input.content_id,
            content_version_id=input.content_version_id,
            weight=input.weight,
            duration_ms=input.duration_ms,
        )
        return PlaylistItemSuccess(item=PlaylistItem.from_model(item))

    @strawberry.mutation(permission_classes=[CanManageFleet])
    async def remove_playlist_item(self, info: AppInfo, item_id: uuid.UUID) -> UpdatePlaylistResult:
        item = await item_service.remove_item(
            info.context.services, info.context.require_actor(), item_id
        )
        return await _playlist(info, item.playlist_id)

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Set the play order: `itemIds` must list every item of the playlist once.",
    )
    async def reorder_playlist_items(
        self, info: AppInfo, playlist_id: uuid.UUID, item_ids: list[uuid.UUID]
    ) -> UpdatePlaylistResult:
        await item_service.reorder_items(
            info.context.services, info.context.require_actor(), playlist_id, item_ids
        )
        return await _playlist(info, playlist_id)

    @strawberry.mutation(permission_classes=[CanManageFleet], description="Weight: 1..1000.")
    async def set_playlist_item_weight(
        self, info: AppInfo, item_id: uuid.UUID, weight: int
    ) -> PlaylistItemResult:
        item = await item_service.set_item_weight(
            info.context.services, info.context.require_actor(), item_id, weight=weight
        )
        return PlaylistItemSuccess(item=PlaylistItem.from_model(item))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Pin the item to a version of its content, or null to follow the latest.",
    )
    async def set_playlist_item_version(
        self, info: AppInfo, item_id: uuid.UUID, content_version_id: uuid.UUID | None
    ) -> PlaylistItemResult:
        item = await item_service.set_item_version(
            info.context.services,
            info.context.require_actor(),
            item_id,
            content_version_id=content_version_id,
        )
        return PlaylistItemSuccess(item=PlaylistItem.from_model(item))
