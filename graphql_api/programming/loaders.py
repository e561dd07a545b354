"""Per-request DataLoaders of campaigns, playlists and schedules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from core.bootstrap import Services
from core.db.tables import campaigns, playlists, schedules
from core.playlists.models import PlaylistItem
from core.playlists.queries import items_by_playlist_ids
from graphql_api.loaders import RowByIdLoader


class CampaignByIdLoader(RowByIdLoader):
    table = campaigns


class PlaylistByIdLoader(RowByIdLoader):
    table = playlists


class ScheduleByIdLoader(RowByIdLoader):
    table = schedules


class ItemsByPlaylistIdLoader(DataLoader[uuid.UUID, list[PlaylistItem]]):
    """Each playlist's items in play order (one query per batch)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        super().__init__(load_fn=self._load)

    async def _load(self, ids: list[uuid.UUID]) -> Sequence[list[PlaylistItem]]:
        async with self._services.engine.connect() as conn:
            found = await items_by_playlist_ids(conn, ids)
        return [found.get(key, []) for key in ids]
