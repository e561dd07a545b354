"""Proof-of-play: the immutable raw event log and its store-local daily aggregate.

The raw log is range-partitioned by month on device_time_ts, so retention drops whole
partitions instead of deleting millions of rows. A primary key on a partitioned table must
contain the partition key, so idempotency is (event_id, device_time_ts): a retried event is
the same immutable record, carrying the same device time. A DEFAULT partition catches any
row outside the prepared months, so an accepted event is never refused for want of one.
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
