"""Playlist values returned by the playlist services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Playlist:
    id: uuid.UUID
    name: str
    campaign_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Playlist:
        return cls(
            id=row.id,
            name=row.name,
            campaign_id=row.campaign_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class PlaylistItem:
    """`content_version_id` None means the item follows the content's latest version."""

    id: uuid.UUID
    playlist_id: uuid.UUID
    content_id: uuid.UUID
    content_version_id: uuid.UUID | None
    order_index: int
    weight: int
    duration_ms: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> PlaylistItem:
        return cls(
            id=row.id,
            playlist_id=row.playlist_id,
            content_id=row.content_id,
            content_version_id=row.content_version_id,
            order_index=row.order_index,
            weight=row.weight,
            duration_ms=row.duration_ms,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class PlaylistFilter:
    campaign_id: uuid.UUID | None = None
    search: str | None = None
