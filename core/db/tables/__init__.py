"""Every table, imported so that `core.db.metadata.metadata` is complete."""

from core.db.tables.content import content, content_uploads, content_versions
from core.db.tables.fleet import (
    device_claims,
    device_content_reports,
    device_groups,
    device_refresh_tokens,
    device_status_transitions,
    devices,
    stores,
)
from core.db.tables.identity import user_refresh_tokens, users
from core.db.tables.operations import audit_log, incidents
from core.db.tables.proof_of_play import (
    proof_of_play_aggregate_daily,
    proof_of_play_device_grants,
    proof_of_play_event_keys,
    proof_of_play_events,
    proof_of_play_grant_items,
)
from core.db.tables.scheduling import (
    campaigns,
    plan_changes,
    playlist_items,
    playlists,
    playout_plans,
    schedules,
)

__all__ = [
    "audit_log",
    "campaigns",
    "content",
    "content_uploads",
    "content_versions",
    "device_claims",
    "device_content_reports",
    "device_groups",
    "device_refresh_tokens",
    "device_status_transitions",
    "devices",
    "incidents",
    "plan_changes",
    "playlist_items",
    "playlists",
    "playout_plans",
    "proof_of_play_aggregate_daily",
    "proof_of_play_device_grants",
    "proof_of_play_event_keys",
    "proof_of_play_events",
    "proof_of_play_grant_items",
    "schedules",
    "stores",
    "user_refresh_tokens",
    "users",
]
