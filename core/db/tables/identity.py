"""Console accounts and their rotating refresh tokens."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from core.db.enums import Role, values
from core.db.metadata import created_at, metadata, one_of, updated_at, uuid_pk

users = sa.Table(
    "users",
    metadata,
    uuid_pk(),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("token_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_login_at", sa.DateTime(timezone=True)),
    created_at(),
    updated_at(),
    one_of("role", values(Role), "role"),
    sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
    sa.UniqueConstraint("email"),
)

user_refresh_tokens = sa.Table(
    "user_refresh_tokens",
    metadata,
    uuid_pk(),
    sa.Column(
        "user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("token_hash", sa.Text, nullable=False),
    sa.Column("family_id", UUID(as_uuid=True), nullable=False),
    sa.Column("parent_id", UUID(as_uuid=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    created_at(),
    sa.UniqueConstraint("token_hash"),
    sa.Index(None, "user_id"),
    sa.Index(None, "family_id"),
)
