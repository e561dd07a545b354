"""DataLoader building blocks: batch by key with one `IN` query, answer in key order.

Name loaders `<Value>By<Key>Loader` and create them through `info.context.loaders.get(...)`,
never at module level (their cache must die with the request).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Row
from strawberry.dataloader import DataLoader

from core.bootstrap import Services

RowOrNone = Row[Any] | None


class RowByIdLoader(DataLoader[uuid.UUID, RowOrNone]):
    """Whole rows of `table` by primary key `id`; None for ids that do not exist.

    Subclass with `table = <sa.Table>` to get e.g. `StoreByIdLoader`.
    """

    table: ClassVar[sa.Table]

    def __init__(self, services: Services) -> None:
        self._services = services
        super().__init__(load_fn=self._load)

    async def _load(self, ids: list[uuid.UUID]) -> Sequence[RowOrNone]:
        async with self._services.engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(self.table).where(self.table.c.id.in_(set(ids))))
            ).all()
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in ids]


class CountByKeyLoader(DataLoader[uuid.UUID, int]):
    """How many rows of `table` have `column` equal to each key (one GROUP BY query)."""

    table: ClassVar[sa.Table]
    column: ClassVar[str]
    where: ClassVar[tuple[Any, ...]] = ()

    def __init__(self, services: Services) -> None:
        self._services = services
        super().__init__(load_fn=self._load)

    async def _load(self, keys: list[uuid.UUID]) -> Sequence[int]:
        column = self.table.c[self.column]
        stmt = (
            sa.select(column, sa.func.count())
            .where(column.in_(set(keys)), *self.where)
            .group_by(column)
        )
        async with self._services.engine.connect() as conn:
            counts: dict[Any, int] = {row[0]: int(row[1]) for row in (await conn.execute(stmt))}
        return [counts.get(key, 0) for key in keys]
