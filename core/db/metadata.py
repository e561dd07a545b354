"""The one SQLAlchemy Core MetaData: the source of truth that Alembic migrations follow.

The naming convention makes every constraint name predictable, so migrations can refer to
them and autogenerate produces stable diffs.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# The "no campaign" key in aggregates, whose primary key cannot hold NULL.
NO_CAMPAIGN = uuid.UUID(int=0)


def uuid_pk() -> sa.Column[uuid.UUID]:
    return sa.Column(
        "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
    )


def created_at() -> sa.Column[datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def updated_at() -> sa.Column[datetime]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def jsonb(name: str, *, default: str = "{}", nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, JSONB, nullable=nullable, server_default=sa.text(f"'{default}'::jsonb"))


def one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    """A check constraint for an enum-like text column."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)
