"""The content library: content items, immutable versions and pending uploads."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from core.db.enums import ContentType, UploadStatus, values
from core.db.metadata import created_at, metadata, one_of, updated_at, uuid_pk

content = sa.Table(
    "content",
    metadata,
    uuid_pk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
    created_at(),
    updated_at(),
    one_of("type", values(ContentType), "type"),
    sa.CheckConstraint("length(name) > 0", name="name_not_empty"),
    sa.Index(None, "tags", postgresql_using="gin"),
)

content_versions = sa.Table(
    "content_versions",
    metadata,
    uuid_pk(),
    sa.Column(
        "content_id",
        UUID(as_uuid=True),
        sa.ForeignKey("content.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("version_hash", sa.Text, nullable=False),
    sa.Column("storage_key", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("mime", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Integer),
    created_at(),
    sa.CheckConstraint("bytes >= 0", name="bytes_non_negative"),
    sa.CheckConstraint("duration_ms IS NULL OR duration_ms > 0", name="duration_positive"),
    sa.CheckConstraint("version_number > 0", name="version_positive"),
    sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    sa.UniqueConstraint("content_id", "version_number"),
    sa.UniqueConstraint("version_hash"),
)

content_uploads = sa.Table(
    "content_uploads",
    metadata,
    uuid_pk(),
    sa.Column(
        "content_id",
        UUID(as_uuid=True),
        sa.ForeignKey("content.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("storage_key", sa.Text, nullable=False),
    sa.Column("expected_sha256", sa.Text, nullable=False),
    sa.Column("expected_bytes", sa.BigInteger, nullable=False),
    sa.Column("mime", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("status", sa.Text, nullable=False, server_default=UploadStatus.PENDING.value),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("finalized_at", sa.DateTime(timezone=True)),
    sa.Column(
        "content_version_id",
        UUID(as_uuid=True),
        sa.ForeignKey("content_versions.id", ondelete="SET NULL"),
    ),
    created_at(),
    one_of("status", values(UploadStatus), "status"),
    sa.CheckConstraint("expected_bytes >= 0", name="bytes_non_negative"),
    sa.CheckConstraint("duration_ms IS NULL OR duration_ms > 0", name="duration_positive"),
    sa.CheckConstraint("expected_sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    sa.UniqueConstraint("storage_key"),
    sa.Index(None, "content_id"),
)
