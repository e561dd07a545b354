"""Insert or update one row of a domain table and audit it, in the caller's transaction.

The library and programming services (content, campaigns, playlists, schedules) each map
their table's rows to a frozen dataclass and audit creates and edits the same way: the new
model is recorded as `after`, and on an edit the locked `before` is recorded with it. Doing
that in one place means every create or edit of these tables carries the same audit shape.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.kernel.actor import Actor


class AuditedModel(Protocol):
    """A dataclass with an id: what the services build from a row."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def id(self) -> uuid.UUID: ...  # read-only: the models are frozen


M = TypeVar("M", bound=AuditedModel)


async def insert_audited(
    conn: AsyncConnection,
    actor: Actor,
    table: sa.Table,
    values: Mapping[str, object],
    *,
    at: datetime,
    build: Callable[[Row[Any]], M],
    target_type: str,
) -> M:
    """INSERT `values` (created and updated `at`) and record `<target_type>.create`."""
    row = (
        await conn.execute(
            sa.insert(table).values(**values, created_at=at, updated_at=at).returning(table)
        )
    ).one()
    created = build(row)
    await record(
        conn,
        actor,
        action=f"{target_type}.create",
        target_type=target_type,
        target_id=created.id,
        after=dataclasses.asdict(created),
    )
    return created


async def update_audited(
    conn: AsyncConnection,
    actor: Actor,
    table: sa.Table,
    before: M,
    values: Mapping[str, object],
    *,
    at: datetime,
    build: Callable[[Row[Any]], M],
    target_type: str,
    action: str | None = None,
) -> M:
    """UPDATE the row of `before` (locked by the caller) with `values`, updated `at`, and
    record `action` (default `<target_type>.update`) with both states."""
    row = (
        await conn.execute(
            sa.update(table)
            .where(table.c.id == before.id)
            .values(**values, updated_at=at)
            .returning(table)
        )
    ).one()
    after = build(row)
    await record(
        conn,
        actor,
        action=action or f"{target_type}.update",
        target_type=target_type,
        target_id=before.id,
        before=dataclasses.asdict(before),
        after=dataclasses.asdict(after),
    )
    return after
