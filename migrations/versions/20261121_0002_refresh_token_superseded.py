"""device_refresh_tokens.superseded_at: retried refreshes within a grace window

Revision ID: 5c1f0e2b7a3d
Revises: a92e774d652f
Create Date: 2026-11-21 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1f0e2b7a3d"
down_revision: str | None = "a92e774d652f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: a metadata-only change, no table rewrite or long lock.
    op.add_column(
        "device_refresh_tokens",
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        op.f("ix_device_refresh_tokens_parent_id"),
        "device_refresh_tokens",
        ["parent_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_device_refresh_tokens_parent_id"), table_name="device_refresh_tokens")
    op.drop_column("device_refresh_tokens", "superseded_at")
