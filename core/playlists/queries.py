"""Reads of playlists and their items; the batch functions back the API's DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.rows import get_by_id
from core.db.tables import playlist_items, playlists
from core.playlists.models import Playlist, PlaylistFilter, PlaylistItem
from core.validation import contains_pattern


async def get_playlist(conn: AsyncConnection, playlist_id: uuid.UUID) -> Playlist:
    return Playlist.from_row(await get_by_id(conn, playlists, playlist_id, what="playlist"))


PLAYLIST_SORT_NAME = sa.func.lower(playlists.c.name).label("sort_name")


def playlists_query(flt: PlaylistFilter) -> sa.Select[Any]:
    """Playlists matching `flt` with their `sort_name`, unordered: the caller pages it."""
    query = sa.select(playlists, PLAYLIST_SORT_NAME)
    if flt.campaign_id is not None:
        query = query.where(playlists.c.campaign_id == flt.campaign_id)
    if flt.search and flt.search.strip():
        pattern = contains_pattern(flt.search)
        query = query.where(playlists.c.name.ilike(pattern, escape="\\"))
    return query


async def items_by_playlist_ids(
    conn: AsyncConnection, playlist_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PlaylistItem]]:
    """Each playlist's items in play order."""
    result: dict[uuid.UUID, list[PlaylistItem]] = {pid: [] for pid in playlist_ids}
    if not playlist_ids:
        return result
    rows = await conn.execute(
        sa.select(playlist_items)
        .where(playlist_items.c.playlist_id.in_(set(playlist_ids)))
        .order_by(playlist_items.c.playlist_id, playlist_items.c.order_index, playlist_items.c.id)
    )
    for row in rows:
        result[row.playlist_id].append(PlaylistItem.from_row(row))
    return result
