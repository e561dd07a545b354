"""Proof-of-play: the immutable raw event log and its store-local daily aggregate.

The raw log is range-partitioned by month on device_time_ts, so retention drops whole
partitions instead of deleting millions of rows. A primary key on a partitioned table must
contain the partition key, so the raw table's key is (event_id, device_time_ts); idempotency
by event_id ALONE (a resend with another device time is still the same event, and an id
belongs to one device) is kept by `proof_of_play_event_keys`, a plain table keyed by event_id
that every insert goes through first. A DEFAULT partition catches any row outside the
prepared months, so an accepted event is never refused for want of one.

What a device could have played (`core.proof_of_play.grants`): every (playlist, content,
version, campaign, schedule) of every plan stored for it, as sets of items shared by the
devices that got the same plan (`proof_of_play_grant_items`) and each device's history of
sets (`proof_of_play_device_grants`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from core.db.enums import EventType, PlayResult, values
from core.db.metadata import metadata, one_of

proof_of_play_events = sa.Table(
    "proof_of_play_events",
    metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("device_time_ts", sa.DateTime(timezone=True), primary_key=True),
    sa.Column(
        "device_id",
        UUID(as_uuid=True),
        sa.ForeignKey("devices.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    sa.Column("store_id", UUID(as_uuid=True)),
    sa.Column("campaign_id", UUID(as_uuid=True)),
    sa.Column("schedule_id", UUID(as_uuid=True)),
    sa.Column("playlist_id", UUID(as_uuid=True), nullable=False),
    sa.Column("content_id", UUID(as_uuid=True), nullable=False),
    sa.Column("content_version", sa.Integer, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    # The store-local calendar day of device_time_ts, fixed at ingest.
    sa.Column("local_day", sa.Date, nullable=False),
    sa.Column(
        "server_received_ts",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.now(),
    ),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("result", sa.Text),
    sa.Column("payload_json", JSONB),
    one_of("type", values(EventType), "type"),
    sa.CheckConstraint(
        "result IS NULL OR result IN (" + ", ".join(f"'{v}'" for v in values(PlayResult)) + ")",
        name="result",
    ),
    sa.CheckConstraint(
        "duration_ms IS NULL OR duration_ms BETWEEN 0 AND 86400000", name="duration_sane"
    ),
    sa.CheckConstraint("content_version > 0", name="version_positive"),
    sa.Index(None, "device_id", "device_time_ts"),
    sa.Index(None, "local_day", "store_id"),
    postgresql_partition_by="RANGE (device_time_ts)",
)

proof_of_play_aggregate_daily = sa.Table(
    "proof_of_play_aggregate_daily",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    # core.db.metadata.NO_CAMPAIGN stands for "no campaign", as a key cannot be NULL.
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("store_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("content_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("plays_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("completed_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("starts_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total_duration_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint(
        "plays_count >= 0 AND completed_count >= 0 AND starts_count >= 0 "
        "AND total_duration_ms >= 0 AND completed_count <= plays_count",
        name="counts_non_negative",
    ),
    # The blueprint's POP aggregate index: campaign reports over a date range.
    sa.Index("ix_pop_aggregate_campaign_day", "campaign_id", "day"),
    sa.Index("ix_pop_aggregate_store_day", "store_id", "day"),
)

# Idempotency by event_id alone, and who owns each id. Pruned with the raw rows' retention
# (core.proof_of_play.partitions), by device time: a BRIN index suits rows that arrive
# roughly in time order and costs next to nothing per insert. No foreign key: the device
# comes from its token, and a per-row check would cost every event an extra lookup.
proof_of_play_event_keys = sa.Table(
    "proof_of_play_event_keys",
    metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("device_id", UUID(as_uuid=True), nullable=False),
    sa.Column("device_time_ts", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "device_time_ts", postgresql_using="brin"),
)

# The items of one plan, keyed by a hash of the set (plans that differ only in their dates
# or order share a set). The nil uuid stands for "no campaign" / "no schedule" (fallback).
proof_of_play_grant_items = sa.Table(
    "proof_of_play_grant_items",
    metadata,
    sa.Column("set_hash", sa.Text, primary_key=True),
    sa.Column("playlist_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("content_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("content_version", sa.Integer, primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("schedule_id", UUID(as_uuid=True), primary_key=True),
)

# Which sets each device was given, and when a newer plan replaced each (NULL: current).
proof_of_play_device_grants = sa.Table(
    "proof_of_play_device_grants",
    metadata,
    sa.Column(
        "device_id",
        UUID(as_uuid=True),
        sa.ForeignKey("devices.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("set_hash", sa.Text, primary_key=True),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("superseded_at", sa.DateTime(timezone=True)),
    sa.Index(None, "set_hash"),
    sa.Index(None, "superseded_at"),
)
