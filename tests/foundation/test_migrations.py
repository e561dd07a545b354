"""Alembic migrations are the only way the schema changes, and they agree with the metadata."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import core.db.tables  # noqa: F401
from core.db.engine import create_engine
from core.db.metadata import metadata
from core.db.migrations import downgrade, head_revision, include_name, upgrade
from tests.harness import DatabaseFactory, run_in_thread

SEED_FIELDS = {
    "devices": {
        "id",
        "external_name",
        "store_id",
        "group_id",
        "status",
        "last_seen_at",
        "device_info_json",
        "player_version",
        "created_at",
        "updated_at",
        "token_hash",
    },
    "stores": {"id", "name", "city", "area", "address", "operating_hours_json", "timezone"},
    "device_groups": {"id", "name", "policy_json"},
    "content": {"id", "name", "type", "tags", "created_at"},
    "content_versions": {
        "id",
        "content_id",
        "version_hash",
        "url",
        "sha256",
        "bytes",
        "duration_ms",
        "created_at",
        "mime",
    },
    "campaigns": {"id", "brand_name", "name", "start_date", "end_date", "created_at"},
    "playlists": {"id", "name", "campaign_id", "created_at"},
    "playlist_items": {"id", "playlist_id", "content_version_id", "order_index", "weight"},
    "schedules": {
        "id",
        "target_type",
        "target_id",
        "playlist_id",
        "timezone",
        "rules_json",
        "priority",
        "campaign_id",
        "valid_from",
        "valid_to",
    },
    "playout_plans": {
        "id",
        "device_id",
        "etag",
        "plan_json",
        "valid_from",
        "valid_to",
        "generated_at",
    },
    "proof_of_play_events": {
        "event_id",
        "device_id",
        "store_id",
        "campaign_id",
        "playlist_id",
        "content_id",
        "content_version",
        "type",
        "device_time_ts",
        "server_received_ts",
        "duration_ms",
        "result",
        "payload_json",
    },
    "proof_of_play_aggregate_daily": {
        "day",
        "campaign_id",
        "store_id",
        "content_id",
        "plays_count",
        "total_duration_ms",
    },
    "incidents": {
        "id",
        "device_id",
        "type",
        "severity",
        "details_json",
        "created_at",
        "resolved_at",
    },
    "audit_log": {
        "id",
        "actor_user_id",
        "action",
        "target_type",
        "target_id",
        "created_at",
        "details_json",
    },
    "device_claims": {
        "claim_code",
        "expires_at",
        "used_at",
        "device_code_hash",
        "store_id",
        "group_id",
        "external_name",
        "approved_at",
        "denied_at",
    },
    "users": {"email", "password_hash", "role", "disabled"},
    "device_refresh_tokens": {"token_hash", "family_id", "parent_id", "revoked_at"},
}


def _columns(sync_conn: Connection) -> dict[str, set[str]]:
    inspector = inspect(sync_conn)
    return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}


def _diff(sync_conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        sync_conn,
        opts={"include_name": include_name, "compare_type": True, "compare_server_default": True},
    )
    return list(compare_metadata(context, metadata))


async def _inspect(url: str) -> tuple[dict[str, set[str]], list[Any], str | None]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(_columns)
            diff = await conn.run_sync(_diff)
            version = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
        return columns, diff, version
    finally:
        await engine.dispose()


async def test_round_trip_and_models_match_migrations(db_factory: DatabaseFactory) -> None:
    url = await db_factory.empty()
    try:
        run_in_thread(lambda: upgrade(url))
        run_in_thread(lambda: downgrade(url, "base"))
        engine = create_engine(url, pool_size=1, max_overflow=0)
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: inspect(c).get_table_names())
        await engine.dispose()
        assert set(left) <= {"alembic_version"}, f"downgrade left tables behind: {left}"

        run_in_thread(lambda: upgrade(url))
        columns, diff, version = await _inspect(url)
        assert version == head_revision()
        assert diff == [], f"metadata and migrations disagree: {diff}"
        for table, fields in SEED_FIELDS.items():
            missing = fields - columns.get(table, set())
            assert not missing, f"{table} lacks {missing}"
        assert "proof_of_play_events_default" in columns
    finally:
        await db_factory.drop(url)


async def test_constraints_reject_bad_enum_values_and_negatives(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    bad = [
        "INSERT INTO content (name, type) VALUES ('x', 'audio')",
        "INSERT INTO campaigns (brand_name, name, start_date, end_date)"
        " VALUES ('b', 'n', '2026-02-01', '2026-01-01')",
        "INSERT INTO devices (status) VALUES ('sleeping')",
        "INSERT INTO devices (disk_used_bytes) VALUES (-1)",
        "INSERT INTO users (email, password_hash, role) VALUES ('a@b.c', 'x', 'ROOT')",
        "INSERT INTO users (email, password_hash, role) VALUES ('A@b.c', 'x', 'ADMIN')",
    ]
    try:
        for statement in bad:
            async with engine.connect() as conn:
                try:
                    await conn.execute(text(statement))
                except Exception as exc:  # IntegrityError wraps the check violation
                    assert "violates check constraint" in str(exc), statement
                else:
                    raise AssertionError(f"accepted: {statement}")
    finally:
        await engine.dispose()
