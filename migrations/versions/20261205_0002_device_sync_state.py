"""device sync state: desired vs reported plan, cached and failed content (convergence)

Revision ID: 86a1e86d95ca
Revises: 8b2e4f1c6d90
Create Date: 2026-12-05 00:00:01.000000

- `playout_plans.content_versions`: the plan's "<content_id>:<version>" keys, backfilled from
  each stored plan_json with the same expression the plan upsert uses.
- `devices`: `desired_plan_etag`, `sync_state` / `sync_state_since` and `reports_content`.
  Existing devices are judged from what is known: the desired ETag is their stored plan's,
  and they are `in_sync` when they last reported that ETag, else `pending` (no player has
  reported content yet); every state starts now.
- `device_content_reports`: the content each player reports as cached and as failed (empty:
  no player reported any yet).

Adding the NOT NULL columns with constant or `now()` defaults is a catalog-only change
(PostgreSQL 11+), no table rewrite; the backfill is one UPDATE per table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "86a1e86d95ca"
down_revision: str | None = "8b2e4f1c6d90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("in_sync", "pending", "downloading", "failed")


def upgrade() -> None:
    op.add_column(
        "playout_plans",
        sa.Column(
            "content_versions",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.execute(
        """
        UPDATE playout_plans SET content_versions = ARRAY(
            SELECT DISTINCT (item ->> 'content_id') || ':' || (item ->> 'version')
            FROM jsonb_array_elements(plan_json -> 'items') AS item
            ORDER BY 1
        )
        """
    )
    op.add_column("devices", sa.Column("desired_plan_etag", sa.Text(), nullable=True))
    op.add_column(
        "devices",
        sa.Column("sync_state", sa.Text(), server_default="pending", nullable=False),
    )
    op.add_column(
        "devices",
        sa.Column(
            "sync_state_since",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.add_column(
        "devices",
        sa.Column("reports_content", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    quoted = ", ".join(f"'{state}'" for state in _STATES)
    op.create_check_constraint(
        op.f("ck_devices_sync_state"), "devices", f"sync_state IN ({quoted})"
    )
    op.execute(
        """
        UPDATE devices AS d
        SET desired_plan_etag = pp.etag,
            sync_state = CASE WHEN d.reported_plan_etag = pp.etag
                              THEN 'in_sync' ELSE 'pending' END
        FROM playout_plans AS pp
        WHERE pp.device_id = d.id
        """
    )
    op.create_index(
        "ix_devices_not_in_sync",
        "devices",
        ["sync_state"],
        unique=False,
        postgresql_where=sa.text("sync_state <> 'in_sync'"),
    )
    op.create_table(
        "device_content_reports",
        sa.Column("device_id", sa.UUID(), nullable=False),
        sa.Column("cached_content", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("failed_content", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_content_reports_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_content_reports")),
    )


def downgrade() -> None:
    op.drop_table("device_content_reports")
    op.drop_index(
        "ix_devices_not_in_sync",
        table_name="devices",
        postgresql_where=sa.text("sync_state <> 'in_sync'"),
    )
    op.drop_constraint(op.f("ck_devices_sync_state"), "devices", type_="check")
    op.drop_column("devices", "reports_content")
    op.drop_column("devices", "sync_state_since")
    op.drop_column("devices", "sync_state")
    op.drop_column("devices", "desired_plan_etag")
    op.drop_column("playout_plans", "content_versions")
