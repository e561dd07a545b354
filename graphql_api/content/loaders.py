"""Per-request DataLoaders of the content library (create them via `info.context.loaders`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from core.bootstrap import Services
from core.content.models import ContentVersion
from core.content.queries import latest_versions_by_content_ids, versions_by_content_ids
from core.db.tables import content, content_versions
from graphql_api.loaders import RowByIdLoader


class ContentByIdLoader(RowByIdLoader):
    table = content


class ContentVersionByIdLoader(RowByIdLoader):
    table = content_versions


class VersionsByContentIdLoader(DataLoader[uuid.UUID, list[ContentVersion]]):
    """Every version of each content, newest first (one query per batch)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        super().__init__(load_fn=self._load)

    async def _load(self, ids: list[uuid.UUID]) -> Sequence[list[ContentVersion]]:
        async with self._services.engine.connect() as conn:
            found = await versions_by_content_ids(conn, ids)
        return [found.get(key, []) for key in ids]


class LatestVersionByContentIdLoader(DataLoader[uuid.UUID, ContentVersion | None]):
    """The newest version of each content, None for content with no version yet."""

    def __init__(self, services: Services) -> None:
        self._services = services
        super().__init__(load_fn=self._load)

    async def _load(self, ids: list[uuid.UUID]) -> Sequence[ContentVersion | None]:
        async with self._services.engine.connect() as conn:
            found = await latest_versions_by_content_ids(conn, ids)
        return [found.get(key) for key in ids]
