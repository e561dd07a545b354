"""proof-of-play integrity: event keys (idempotency by event_id alone) and play grants

Revision ID: 3f7d2c9a1b64
Revises: 5c1f0e2b7a3d
Create Date: 2026-12-04 09:00:00.000000

- `proof_of_play_event_keys`: one row per stored event id with its device, backfilled from
  the raw log (when an id was stored twice under different device times, the first received
  copy keeps the id; the later copies stay in the raw log as they were).
- `proof_of_play_grant_items` / `proof_of_play_device_grants`: what each device could have
  played (core.proof_of_play.grants), backfilled from every device's current stored plan
  (the set is named after the plan's ETag), so that uploads keep being accepted right after
  the upgrade. Earlier plans were never kept: plays of them (an offline player still on an
  older plan) are refused as `not_scheduled`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f7d2c9a1b64"
down_revision: str | None = "5c1f0e2b7a3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NIL = "00000000-0000-0000-0000-000000000000"


def upgrade() -> None:
    op.create_table(
        "proof_of_play_event_keys",
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("device_id", sa.UUID(), nullable=False),
        sa.Column("device_time_ts", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_proof_of_play_event_keys")),
    )
    op.create_index(
        op.f("ix_proof_of_play_event_keys_device_time_ts"),
        "proof_of_play_event_keys",
        ["device_time_ts"],
        unique=False,
        postgresql_using="brin",
    )
    op.create_table(
        "proof_of_play_grant_items",
        sa.Column("set_hash", sa.Text(), nullable=False),
        sa.Column("playlist_id", sa.UUID(), nullable=False),
        sa.Column("content_id", sa.UUID(), nullable=False),
        sa.Column("content_version", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("schedule_id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint(
            "set_hash",
            "playlist_id",
            "content_id",
            "content_version",
            "campaign_id",
            "schedule_id",
            name=op.f("pk_proof_of_play_grant_items"),
        ),
    )
    op.create_table(
        "proof_of_play_device_grants",
        sa.Column("device_id", sa.UUID(), nullable=False),
        sa.Column("set_hash", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_proof_of_play_device_grants_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "device_id", "set_hash", name=op.f("pk_proof_of_play_device_grants")
        ),
    )
    op.create_index(
        op.f("ix_proof_of_play_device_grants_set_hash"),
        "proof_of_play_device_grants",
        ["set_hash"],
        unique=False,
    )
    op.create_index(
        op.f("ix_proof_of_play_device_grants_superseded_at"),
        "proof_of_play_device_grants",
        ["superseded_at"],
        unique=False,
    )
    op.execute(
        """
        INSERT INTO proof_of_play_event_keys (event_id, device_id, device_time_ts)
        SELECT DISTINCT ON (event_id) event_id, device_id, device_time_ts
        FROM proof_of_play_events
        ORDER BY event_id, server_received_ts, device_time_ts
        """
    )
    op.execute(
        f"""
        INSERT INTO proof_of_play_grant_items
            (set_hash, playlist_id, content_id, content_version, campaign_id, schedule_id)
        SELECT DISTINCT 'etag:' || p.etag,
               CAST(item->>'playlist_id' AS uuid), CAST(item->>'content_id' AS uuid),
               CAST(item->>'version' AS int),
               COALESCE(CAST(item->>'campaign_id' AS uuid), '{_NIL}'::uuid),
               COALESCE(CAST(item->>'schedule_id' AS uuid), '{_NIL}'::uuid)
        FROM playout_plans p, jsonb_array_elements(p.plan_json->'items') AS item
        """  # noqa: S608 - a constant
    )
    op.execute(
        """
        INSERT INTO proof_of_play_device_grants (device_id, set_hash, granted_at)
        SELECT device_id, 'etag:' || etag, generated_at FROM playout_plans
        """
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_proof_of_play_device_grants_superseded_at"),
        table_name="proof_of_play_device_grants",
    )
    op.drop_index(
        op.f("ix_proof_of_play_device_grants_set_hash"), table_name="proof_of_play_device_grants"
    )
    op.drop_table("proof_of_play_device_grants")
    op.drop_table("proof_of_play_grant_items")
    op.drop_index(
        op.f("ix_proof_of_play_event_keys_device_time_ts"),
        table_name="proof_of_play_event_keys",
        postgresql_using="brin",
    )
    op.drop_table("proof_of_play_event_keys")
