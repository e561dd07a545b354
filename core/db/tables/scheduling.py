"""Campaigns, playlists and their items, schedules, and resolved playout plans."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from core.db.enums import PlanChangeKind, TargetType, values
from core.db.metadata import created_at, jsonb, metadata, one_of, updated_at, uuid_pk

campaigns = sa.Table(
    "campaigns",
    metadata,
    uuid_pk(),
    sa.Column("brand_name", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    created_at(),
    updated_at(),
    sa.CheckConstraint("start_date <= end_date", name="dates_ordered"),
    sa.Index(None, "start_date", "end_date"),
)

playlists = sa.Table(
    "playlists",
    metadata,
    uuid_pk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column(
        "campaign_id", UUID(as_uuid=True), sa.ForeignKey("campaigns.id", ondelete="SET NULL")
    ),
    created_at(),
    updated_at(),
    sa.Index(None, "campaign_id"),
)

playlist_items = sa.Table(
    "playlist_items",
    metadata,
    uuid_pk(),
    sa.Column(
        "playlist_id",
        UUID(as_uuid=True),
        sa.ForeignKey("playlists.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "content_id",
        UUID(as_uuid=True),
        sa.ForeignKey("content.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    # NULL means "follow the latest version of content_id".
    sa.Column(
        "content_version_id",
        UUID(as_uuid=True),
        sa.ForeignKey("content_versions.id", ondelete="RESTRICT"),
    ),
    sa.Column("order_index", sa.Integer, nullable=False),
    sa.Column("weight", sa.Integer, nullable=False, server_default="1"),
    sa.Column("duration_ms", sa.Integer),
    created_at(),
    sa.CheckConstraint("weight > 0", name="weight_positive"),
    sa.CheckConstraint("order_index >= 0", name="order_non_negative"),
    sa.CheckConstraint("duration_ms IS NULL OR duration_ms > 0", name="duration_positive"),
    sa.Index(None, "playlist_id", "order_index"),
    sa.Index(None, "content_id"),
    sa.Index(None, "content_version_id"),
)

schedules = sa.Table(
    "schedules",
    metadata,
    uuid_pk(),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("target_type", sa.Text, nullable=False),
    sa.Column("target_id", UUID(as_uuid=True), nullable=False),
    sa.Column(
        "playlist_id",
        UUID(as_uuid=True),
        sa.ForeignKey("playlists.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "campaign_id", UUID(as_uuid=True), sa.ForeignKey("campaigns.id", ondelete="SET NULL")
    ),
    # NULL: the store's timezone, so "09:00-11:00" is local time at each store.
    sa.Column("timezone", sa.Text),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    # core.scheduling.rules.ScheduleRules: dayparts, date ranges, exclusions, frequency caps.
    jsonb("rules_json"),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    created_at(),
    updated_at(),
    one_of("target_type", values(TargetType), "target_type"),
    sa.CheckConstraint(
        "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to", name="validity_ordered"
    ),
    sa.CheckConstraint("priority BETWEEN -1000 AND 1000", name="priority_range"),
    sa.Index(None, "target_type", "target_id"),
    sa.Index(None, "playlist_id"),
    sa.Index(None, "campaign_id"),
)

playout_plans = sa.Table(
    "playout_plans",
    metadata,
    uuid_pk(),
    sa.Column(
        "device_id",
        UUID(as_uuid=True),
        sa.ForeignKey("devices.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Hash of everything that shaped the plan: devices with equal inputs share one computation.
    sa.Column("inputs_hash", sa.Text, nullable=False),
    sa.Column("etag", sa.Text, nullable=False),
    sa.Column("plan_json", JSONB, nullable=False),
    # The plan's content versions as sorted "<content_id>:<version>" keys, derived from
    # plan_json in the upsert: what a device must hold to be in sync (core.devices.sync_state).
    sa.Column(
        "content_versions", sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")
    ),
    sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("valid_to", sa.DateTime(timezone=True), nullable=False),
    sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("valid_from < valid_to", name="validity_ordered"),
    sa.UniqueConstraint("device_id"),
    sa.Index(None, "valid_to"),
    sa.Index(None, "inputs_hash"),
)

# The plan-change outbox: written in the transaction of the change itself, so a change is
# never lost with Redis (core.plans.outbox). `batches_done` holds the numbers of the
# regeneration batches of the current dispatch that finished (an array, so a batch
# delivered twice is counted once); the change is done when all `batches_total` are.
plan_changes = sa.Table(
    "plan_changes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("target_ids", sa.ARRAY(UUID(as_uuid=True)), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dispatched_at", sa.DateTime(timezone=True)),
    sa.Column("dispatches", sa.Integer, nullable=False, server_default="0"),
    sa.Column("batches_total", sa.Integer),
    sa.Column("batches_done", sa.ARRAY(sa.Integer), nullable=False, server_default=sa.text("'{}'")),
    sa.Column("done_at", sa.DateTime(timezone=True)),
    one_of("kind", values(PlanChangeKind), "kind"),
    sa.Index("ix_plan_changes_pending", "created_at", postgresql_where=sa.text("done_at IS NULL")),
)
