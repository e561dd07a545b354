"""Fetch one row by primary key or fail with the domain's NotFound.

Almost every use case starts by loading (and often row-locking) the thing it changes; doing
that through one helper keeps the "<thing> not found" message and its field path uniform, so
both edges report a missing row the same way, and keeps the lock explicit at the call site.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import NotFound


async def get_by_id(
    conn: AsyncConnection,
    table: sa.Table,
    row_id: uuid.UUID,
    *,
    what: str,
    field: str = "id",
    lock: bool = False,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
) -> Row[Any]:
    """The row of `table` whose `id` is `row_id`, or NotFound("<what> not found", field=field).

    `lock=True` takes `SELECT ... FOR UPDATE`, so the caller's read-modify-write is serialised
    with concurrent writers until its transaction ends. `columns` narrows the select (e.g. to
    the id alone for an existence check, or to columns that are safe to expose).
    """
    query = sa.select(*columns) if columns is not None else sa.select(table)
    query = query.where(table.c.id == row_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"{what} not found", field=field)
    return row
