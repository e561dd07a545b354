"""Stores, device groups, devices, pairing claims and device refresh tokens."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from core.db.enums import ClaimFlow, ClaimStatus, DeviceStatus, SyncState, values
from core.db.metadata import created_at, jsonb, metadata, one_of, updated_at, uuid_pk

stores = sa.Table(
    "stores",
    metadata,
    uuid_pk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("city", sa.Text),
    sa.Column("area", sa.Text),
    sa.Column("address", sa.Text),
    # IANA zone: opening hours and store-local reporting days are judged in it.
    sa.Column("timezone", sa.Text, nullable=False, server_default="UTC"),
    # {"mon": [{"open": "09:00", "close": "21:00"}], ..., "sun": []}; close < open crosses midnight.
    jsonb("operating_hours_json"),
    created_at(),
    updated_at(),
    sa.CheckConstraint("length(name) > 0", name="name_not_empty"),
    sa.Index(None, "name"),
)

device_groups = sa.Table(
    "device_groups",
    metadata,
    uuid_pk(),
    sa.Column("name", sa.Text, nullable=False),
    # {"heartbeat_interval_s": 60, "offline_threshold_s": 180, "storage_cap_bytes": ...}
    jsonb("policy_json"),
    sa.Column(
        "default_playlist_id",
        UUID(as_uuid=True),
        sa.ForeignKey("playlists.id", ondelete="SET NULL", use_alter=True),
    ),
    created_at(),
    updated_at(),
    sa.UniqueConstraint("name"),
)

devices = sa.Table(
    "devices",
    metadata,
    uuid_pk(),
    sa.Column("external_name", sa.Text),
    sa.Column("store_id", UUID(as_uuid=True), sa.ForeignKey("stores.id", ondelete="SET NULL")),
    sa.Column(
        "group_id", UUID(as_uuid=True), sa.ForeignKey("device_groups.id", ondelete="SET NULL")
    ),
    sa.Column("status", sa.Text, nullable=False, server_default=DeviceStatus.PENDING.value),
    sa.Column("status_changed_at", sa.DateTime(timezone=True)),
    sa.Column("last_seen_at", sa.DateTime(timezone=True)),
    jsonb("device_info_json"),
    sa.Column("player_version", sa.Text),
    # Blueprint column; kept for a static-token mode. Rotating JWTs use token_epoch instead.
    sa.Column("token_hash", sa.Text),
    # Bumped on revoke/decommission: every token minted under an older epoch fails at once.
    sa.Column("token_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("decommissioned_at", sa.DateTime(timezone=True)),
    # Telemetry from the latest heartbeat.
    sa.Column("disk_used_bytes", sa.BigInteger),
    jsonb("now_playing_json", default="null", nullable=True),
    sa.Column("last_error", sa.Text),
    jsonb("counters_json"),
    sa.Column("reported_plan_etag", sa.Text),
    # Convergence (core.devices.sync_state, docs/convergence.md). `desired_plan_etag` is the
    # ETag of the stored plan the state was judged against, written after each plan commit.
    # `reports_content`: the player has sent a content report (device_content_reports), so
    # heartbeats of players that never do skip looking for one.
    sa.Column("desired_plan_etag", sa.Text),
    sa.Column("sync_state", sa.Text, nullable=False, server_default=SyncState.PENDING.value),
    sa.Column(
        "sync_state_since", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("reports_content", sa.Boolean, nullable=False, server_default=sa.false()),
    created_at(),
    updated_at(),
    one_of("status", values(DeviceStatus), "status"),
    one_of("sync_state", values(SyncState), "sync_state"),
    sa.CheckConstraint("disk_used_bytes IS NULL OR disk_used_bytes >= 0", name="disk_non_negative"),
    sa.CheckConstraint("token_epoch >= 0", name="token_epoch_non_negative"),
    sa.Index(None, "store_id"),
    sa.Index(None, "group_id"),
    sa.Index(None, "status"),
    sa.Index(None, "last_seen_at"),
    # Only devices out of sync: in steady state almost none, so heartbeats of in-sync
    # devices never write to it, and the "not in sync" list stays an index scan.
    sa.Index(
        "ix_devices_not_in_sync",
        "sync_state",
        postgresql_where=sa.text(f"sync_state <> '{SyncState.IN_SYNC.value}'"),
    ),
)

# The content a player last reported (heartbeat `cached_content_versions` and
# `failed_content_versions`), apart from `devices`: a report may hold hundreds of entries,
# and device rows are read by every console list and copied into every device audit entry.
# Objects keyed by "<content_id>:<version>" (core.devices.sync_state.content_key), so `?&`
# and `?|` find a plan's keys by binary search; NULL: that part was never reported.
device_content_reports = sa.Table(
    "device_content_reports",
    metadata,
    sa.Column(
        "device_id",
        UUID(as_uuid=True),
        sa.ForeignKey("devices.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("cached_content", JSONB),  # {key: true}
    sa.Column("failed_content", JSONB),  # {key: {"error": ..., "at": ...}}
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),  # last change
)

device_status_transitions = sa.Table(
    "device_status_transitions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "device_id",
        UUID(as_uuid=True),
        sa.ForeignKey("devices.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("from_status", sa.Text),
    sa.Column("to_status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    one_of("to_status", values(DeviceStatus), "to_status"),
    sa.Index(None, "device_id", "at"),
)

device_claims = sa.Table(
    "device_claims",
    metadata,
    uuid_pk(),
    # Normalised: upper case, no dashes, 8 characters of BCDFGHJKLMNPQRSTVWXZ.
    sa.Column("claim_code", sa.Text, nullable=False),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=ClaimStatus.PENDING.value),
    # Screen flow only: sha256 of the device's secret; the secret itself is never stored.
    sa.Column("device_code_hash", sa.Text),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("interval_s", sa.Integer, nullable=False, server_default="5"),
    sa.Column("last_polled_at", sa.DateTime(timezone=True)),
    sa.Column("store_id", UUID(as_uuid=True), sa.ForeignKey("stores.id", ondelete="SET NULL")),
    sa.Column(
        "group_id", UUID(as_uuid=True), sa.ForeignKey("device_groups.id", ondelete="SET NULL")
    ),
    sa.Column("external_name", sa.Text),
    jsonb("device_info_json"),
    sa.Column("approved_at", sa.DateTime(timezone=True)),
    sa.Column("denied_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("device_id", UUID(as_uuid=True), sa.ForeignKey("devices.id", ondelete="SET NULL")),
    created_at(),
    one_of("flow", values(ClaimFlow), "flow"),
    one_of("status", values(ClaimStatus), "status"),
    sa.CheckConstraint("claim_code ~ '^[BCDFGHJKLMNPQRSTVWXZ]{8}$'", name="claim_code_format"),
    sa.CheckConstraint("interval_s > 0", name="interval_positive"),
    sa.CheckConstraint(
        "flow <> 'SCREEN' OR device_code_hash IS NOT NULL", name="screen_flow_has_secret"
    ),
    sa.UniqueConstraint("claim_code"),
    sa.UniqueConstraint("device_code_hash"),
    sa.Index(None, "expires_at"),
)

device_refresh_tokens = sa.Table(
    "device_refresh_tokens",
    metadata,
    uuid_pk(),
    sa.Column(
        "device_id",
        UUID(as_uuid=True),
        sa.ForeignKey("devices.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("token_hash", sa.Text, nullable=False),
    # A family is one chain of rotations; reuse of a spent member revokes the whole family.
    sa.Column("family_id", UUID(as_uuid=True), nullable=False),
    sa.Column("parent_id", UUID(as_uuid=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    # Set when a retried refresh (DEVICE_REFRESH_RETRY_GRACE_S) replaced this never-used
    # token with a sibling: the device never received it, so presenting it is reuse.
    sa.Column("superseded_at", sa.DateTime(timezone=True)),
    created_at(),
    sa.UniqueConstraint("token_hash"),
    sa.Index(None, "device_id"),
    sa.Index(None, "family_id"),
    sa.Index(None, "parent_id"),  # a retry looks up the successor of the presented token
)
