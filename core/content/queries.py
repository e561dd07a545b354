"""Reads of the content library. The batch functions back the API's DataLoaders: one
`IN (...)` query per batch of keys, so nested lists cost a constant number of queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from core.content.models import Content, ContentFilter, ContentVersion
from core.db.rows import get_by_id
from core.db.tables import content, content_versions
from core.validation import contains_pattern


async def get_content(conn: AsyncConnection, content_id: uuid.UUID) -> Content:
    return Content.from_row(await get_by_id(conn, content, content_id, what="content"))


# Lists sort by name, case-insensitively; the API pages on (sort_name, id).
CONTENT_SORT_NAME = sa.func.lower(content.c.name).label("sort_name")


def content_query(flt: ContentFilter) -> sa.Select[Any]:
    """Content matching `flt` with its `sort_name`, unordered: the caller pages it."""
    query = sa.select(content, CONTENT_SORT_NAME)
    if flt.type is not None:
        query = query.where(content.c.type == flt.type.value)
    if flt.tag:
        query = query.where(content.c.tags.contains([flt.tag.strip().lower()]))
    if flt.search and flt.search.strip():
        pattern = contains_pattern(flt.search)
        query = query.where(content.c.name.ilike(pattern, escape="\\"))
    return query


async def versions_by_content_ids(
    conn: AsyncConnection, content_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ContentVersion]]:
    """Every version of each content, newest first."""
    result: dict[uuid.UUID, list[ContentVersion]] = {cid: [] for cid in content_ids}
    if not content_ids:
        return result
    rows = await conn.execute(
        sa.select(content_versions)
        .where(content_versions.c.content_id.in_(set(content_ids)))
        .order_by(content_versions.c.content_id, content_versions.c.version_number.desc())
    )
    for row in rows:
        result[row.content_id].append(ContentVersion.from_row(row))
    return result


async def latest_versions_by_content_ids(
    conn: AsyncConnection, content_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ContentVersion]:
    """The highest version of each content that has one (DISTINCT ON, one query)."""
    if not content_ids:
        return {}
    rows = await conn.execute(
        sa.select(content_versions)
        .where(content_versions.c.content_id.in_(set(content_ids)))
        .ext(distinct_on(content_versions.c.content_id))
        .order_by(content_versions.c.content_id, content_versions.c.version_number.desc())
    )
    return {row.content_id: ContentVersion.from_row(row) for row in rows}
