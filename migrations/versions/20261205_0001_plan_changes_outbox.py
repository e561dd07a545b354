"""plan-change outbox: a plan-input change is recorded in the transaction that makes it

Revision ID: 8b2e4f1c6d90
Revises: 3f7d2c9a1b64
Create Date: 2026-12-05 00:00:00.000000

`plan_changes` holds every committed plan-input change until the planning workers have
regenerated every plan it touches (core.plans.outbox). Nothing is backfilled: changes
committed before the upgrade were handed to Dramatiq already, and the periodic plan
reconciliation repairs any that were lost.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b2e4f1c6d90"
down_revision: str | None = "3f7d2c9a1b64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "device",
    "group",
    "store",
    "schedule",
    "playlist",
    "content",
    "content_version",
    "campaign",
)


def upgrade() -> None:
    quoted = ", ".join(f"'{k}'" for k in _KINDS)
    op.create_table(
        "plan_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target_ids", sa.ARRAY(sa.UUID()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatches", sa.Integer(), server_default="0", nullable=False),
        sa.Column("batches_total", sa.Integer(), nullable=True),
        sa.Column(
            "batches_done",
            sa.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"kind IN ({quoted})", name=op.f("ck_plan_changes_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_changes")),
    )
    op.create_index(
        "ix_plan_changes_pending",
        "plan_changes",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("done_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_plan_changes_pending",
        table_name="plan_changes",
        postgresql_where=sa.text("done_at IS NULL"),
    )
    op.drop_table("plan_changes")
