"""Relay-style connections with keyset pagination, shared by every domain.

Why keyset and not offsets: an offset cursor ("item 40") points somewhere else as soon as a
row is inserted or deleted before it; a keyset cursor names the last row's sort key, so pages
stay stable while the data changes, and each page is one indexed range scan.

Usage in a resolver::

    page = PageArgs(first=first, after=after, last=last, before=before)   # validates
    return await paginate(ctx, stmt, ORDER_BY_CREATED, page, Store.from_row)

`stmt` is a SQLAlchemy Select of whole rows (filters applied, no ORDER BY/LIMIT); the ordering
names its sort columns, ending with a unique one. `first`/`last` above MAX_PAGE_SIZE are
rejected with a VALIDATION top-level error (code PAGE_SIZE_EXCEEDED) rather than silently
clamped, so a client never mistakes a short page for the end of the list. When neither is
given, DEFAULT_PAGE_SIZE applies. `hasPreviousPage` (forward paging) and `hasNextPage`
(backward paging) are true when a cursor was passed, as the Relay spec allows, instead of
costing a second query.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from core.errors import ValidationFailed
from core.inputs import first_json_problem, instant_problem
from graphql_api.context import AppInfo, Context

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

NodeT = TypeVar("NodeT")


@dataclass(frozen=True)
class SortKey:
    """One column of a keyset, with how its value is written to and read from a cursor."""

    column: ColumnElement[Any]
    name: str
    decode: Callable[[Any], Any]
    encode: Callable[[Any], Any]

    @classmethod
    def timestamp(cls, column: ColumnElement[Any], name: str) -> SortKey:
        return cls(column, name, datetime.fromisoformat, lambda v: v.isoformat())

    @classmethod
    def uuid(cls, column: ColumnElement[Any], name: str) -> SortKey:
        return cls(column, name, uuid.UUID, str)

    @classmethod
    def integer(cls, column: ColumnElement[Any], name: str) -> SortKey:
        return cls(column, name, int, int)

    @classmethod
    def text(cls, column: ColumnElement[Any], name: str) -> SortKey:
        return cls(column, name, str, str)


@dataclass(frozen=True)
class Ordering:
    """A total order for a connection: the last key must be unique (usually the id)."""

    name: str
    keys: tuple[SortKey, ...]
    descending: bool = False

    def row_key(self, row: Row[Any]) -> list[Any]:
        return [row._mapping[key.name] for key in self.keys]


def by_created(table: Any, *, descending: bool = False) -> Ordering:
    """The usual order for tables with `created_at` and a uuid `id`."""
    return Ordering(
        name=f"{table.name}.created{'-desc' if descending else ''}",
        keys=(
            SortKey.timestamp(table.c.created_at, "created_at"),
            SortKey.uuid(table.c.id, "id"),
        ),
        descending=descending,
    )


def by_sort_name(table: Any, sort_name: Any) -> Ordering:
    """Alphabetical order: `sort_name` is the query's `lower(name)` label, then the uuid `id`."""
    return Ordering(
        name=f"{table.name}.name",
        keys=(
            SortKey.text(sort_name.element, sort_name.name),
            SortKey.uuid(table.c.id, "id"),
        ),
    )


def encode_cursor(ordering: Ordering, values: Sequence[Any]) -> str:
    keys = [key.encode(value) for key, value in zip(ordering.keys, values, strict=True)]
    payload = {"o": ordering.name, "k": keys}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(ordering: Ordering, cursor: str, field: str) -> list[Any]:
    def invalid() -> ValidationFailed:
        return ValidationFailed(
            "cursor is not valid for this list",
            field=field,
            errors=[{"field": field, "code": "invalid_cursor", "message": "invalid cursor"}],
        )

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(payload, dict) or payload.get("o") != ordering.name:
            raise invalid()
        values = payload["k"]
        if not isinstance(values, list) or len(values) != len(ordering.keys):
            raise invalid()
        # A cursor is client input like any other: its keys reach SQL as bind parameters.
        if first_json_problem(values) is not None:
            raise invalid()
        decoded = [key.decode(v) for key, v in zip(ordering.keys, values, strict=True)]
        if any(isinstance(v, datetime) and instant_problem(v) for v in decoded):
            raise invalid()
        return decoded
    except ValidationFailed:
        raise
    except (ValueError, TypeError, KeyError, binascii.Error, AttributeError) as exc:
        raise invalid() from exc


def _page_size_error(field: str, value: int) -> ValidationFailed:
    if value < 0:
        code, message = "out_of_range", f"`{field}` must not be negative"
    else:
        code, message = "page_size_exceeded", f"`{field}` must be at most {MAX_PAGE_SIZE}"
    return ValidationFailed(
        message, field=field, errors=[{"field": field, "code": code, "message": message}]
    )


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def __post_init__(self) -> None:
        if self.first is not None and self.last is not None:
            message = "pass either `first` or `last`, not both"
            raise ValidationFailed(
                message,
                field="last",
                errors=[{"field": "last", "code": "invalid", "message": message}],
            )
        for name in ("first", "last"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
                raise _page_size_error(name, value)

    @property
    def backward(self) -> bool:
        return self.last is not None or (self.first is None and self.before is not None)

    @property
    def size(self) -> int:
        value = self.last if self.backward else self.first
        return DEFAULT_PAGE_SIZE if value is None else value


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(description="A page of results; see `pageInfo` to fetch the next one.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    _count_stmt: strawberry.Private[Select[Any] | None] = None

    @strawberry.field(description="The nodes of `edges`, for clients that need no cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many items match the filters in total (one COUNT query).")
    async def total_count(self, info: AppInfo) -> int:
        if self._count_stmt is None:
            return len(self.edges)
        async with info.context.services.engine.connect() as conn:
            return int((await conn.execute(self._count_stmt)).scalar_one())


def _keyset_condition(ordering: Ordering, values: list[Any], *, after: bool) -> Any:
    columns = tuple_(*(key.column for key in ordering.keys))
    bound = tuple_(*values)
    greater = after != ordering.descending
    return columns > bound if greater else columns < bound


async def paginate(
    context: Context,
    stmt: Select[Any],
    ordering: Ordering,
    page: PageArgs,
    to_node: Callable[[Row[Any]], NodeT],
) -> Connection[NodeT]:
    """Run one keyset page of `stmt` and wrap it in a Connection."""
    count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    if page.after is not None:
        stmt = stmt.where(
            _keyset_condition(ordering, decode_cursor(ordering, page.after, "after"), after=True)
        )
    if page.before is not None:
        stmt = stmt.where(
            _keyset_condition(ordering, decode_cursor(ordering, page.before, "before"), after=False)
        )
    reverse = page.backward != ordering.descending
    order = [key.column.desc() if reverse else key.column.asc() for key in ordering.keys]
    size = page.size
    async with context.services.engine.connect() as conn:
        rows = list((await conn.execute(stmt.order_by(*order).limit(size + 1))).all())
    has_more = len(rows) > size
    rows = rows[:size]
    if page.backward:
        rows.reverse()
    edges = [
        Edge(cursor=encode_cursor(ordering, ordering.row_key(row)), node=to_node(row))
        for row in rows
    ]
    info = PageInfo(
        has_next_page=has_more if not page.backward else page.before is not None,
        has_previous_page=has_more if page.backward else page.after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, page_info=info, _count_stmt=count_stmt)
