"""Incidents raised by monitoring, and the audit log of every change."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from core.db.enums import ActorType, IncidentStatus, IncidentType, Severity, values
from core.db.metadata import created_at, jsonb, metadata, one_of, updated_at, uuid_pk

incidents = sa.Table(
    "incidents",
    metadata,
    uuid_pk(),
    sa.Column(
        "device_id",
        UUID(as_uuid=True),
        sa.ForeignKey("devices.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("store_id", UUID(as_uuid=True), sa.ForeignKey("stores.id", ondelete="SET NULL")),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default=IncidentStatus.OPEN.value),
    jsonb("details_json"),
    created_at(),
    updated_at(),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    sa.Column(
        "acknowledged_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")
    ),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")),
    one_of("type", values(IncidentType), "type"),
    one_of("severity", values(Severity), "severity"),
    one_of("status", values(IncidentStatus), "status"),
    sa.CheckConstraint(
        "(status = 'RESOLVED') = (resolved_at IS NOT NULL)", name="resolved_consistent"
    ),
    # At most one open incident per device and type.
    sa.Index(
        "uq_incidents_open_device_type",
        "device_id",
        "type",
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    ),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "store_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("actor_type", sa.Text, nullable=False, server_default=ActorType.USER.value),
    sa.Column("actor_user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("actor_device_id", UUID(as_uuid=True)),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target_type", sa.Text, nullable=False),
    sa.Column("target_id", sa.Text),
    sa.Column("client_ip", sa.Text),
    # {"before": {...}, "after": {...}} and any context of the action.
    jsonb("details_json"),
    created_at(),
    one_of("actor_type", values(ActorType), "actor_type"),
    sa.Index(None, "created_at"),
    sa.Index(None, "actor_user_id", "created_at"),
    sa.Index(None, "target_type", "target_id"),
    sa.Index(None, "action", "created_at"),
)
