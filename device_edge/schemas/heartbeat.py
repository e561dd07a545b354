"""The heartbeat contract."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from core.devices.sync_state import MAX_CACHED_CONTENT, MAX_FAILED_CONTENT, MAX_FAILURE_TEXT
from core.inputs import INT64_MAX
from device_edge.schemas.common import DeviceInfo, ResponseModel
from device_edge.validation import Instant, StrictModel

# Counters live in a jsonb column whose integers the monitoring SQL reads as bigint.
MAX_BIGINT = INT64_MAX


class NowPlaying(StrictModel):
    """What is on screen at the moment of the heartbeat."""

    content_id: uuid.UUID | None = None
    content_version: str | None = Field(default=None, max_length=128)
    playlist_id: uuid.UUID | None = None
    schedule_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    started_at: Instant | None = Field(
        default=None, description="When the current item started playing (player clock)."
    )
    position_ms: int | None = Field(default=None, ge=0, le=MAX_BIGINT)


class Counters(StrictModel):
    """Health counters; monitoring derives incidents from them."""

    uptime_s: int | None = Field(
        default=None, ge=0, le=MAX_BIGINT, description="Seconds since the player process started."
    )
    crashes_1h: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Abnormal player exits in the last hour."
    )
    download_failures: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Consecutive failed content downloads; back to 0 after a success.",
    )
    downloads_pending: int | None = Field(default=None, ge=0, le=1_000_000)
    playback_errors: int | None = Field(
        default=None, ge=0, le=MAX_BIGINT, description="Playback errors since the player started."
    )
    plays: int | None = Field(
        default=None, ge=0, le=MAX_BIGINT, description="Items played since the player started."
    )


# A content version as a plan item names it (`content_id`, `version`); int32 like the column.
MAX_VERSION = 2**31 - 1


class CachedContentVersion(StrictModel):
    """A content version stored on the player, complete and verified."""

    content_id: uuid.UUID = Field(description="The plan item's `content_id`.")
    version: int = Field(ge=1, le=MAX_VERSION, description="The plan item's `version`.")


class FailedContentVersion(StrictModel):
    """A content version the player could not download (or verify)."""

    content_id: uuid.UUID = Field(description="The plan item's `content_id`.")
    version: int = Field(ge=1, le=MAX_VERSION, description="The plan item's `version`.")
    error: str = Field(
        min_length=1,
        max_length=MAX_FAILURE_TEXT,
        description="Why, briefly (shown to operators), e.g. `HTTP 404` or `sha256 mismatch`.",
    )
    at: Instant | None = Field(
        default=None, description="When the latest attempt failed (player clock)."
    )


class HeartbeatRequest(StrictModel):
    disk_used_bytes: int = Field(ge=0, le=MAX_BIGINT)
    counters: Counters
    now_playing: NowPlaying | None = Field(default=None, description="null when idle.")
    plan_etag: str | None = Field(
        default=None, max_length=256, description="ETag of the plan the player is running."
    )
    last_error: str | None = Field(
        default=None,
        max_length=2000,
        description="The player's current error, if any; omit or null once it has cleared.",
    )
    device_info: DeviceInfo | None = Field(
        default=None, description="Send at start-up or when it changes; omitted means unchanged."
    )
    cached_content_versions: list[CachedContentVersion] | None = Field(
        default=None,
        max_length=MAX_CACHED_CONTENT,
        description=(
            "Optional. The content versions the player holds, complete and verified: at "
            "least those of the plan it runs (or is preparing). Replaces the previous "
            "report; omitted or null means unchanged, so send it at start-up and whenever it "
            "changes. With it the console sees which versions of the desired plan are still "
            "missing (`DOWNLOADING` until none is); players that never send it are judged "
            f"by `plan_etag` alone. At most {MAX_CACHED_CONTENT} entries."
        ),
    )
    failed_content_versions: list[FailedContentVersion] | None = Field(
        default=None,
        max_length=MAX_FAILED_CONTENT,
        description=(
            "Optional. Content versions whose latest download failed. Replaces the previous "
            "report; send `[]` once they have downloaded, omitted or null means unchanged. "
            "A failed version that the desired plan needs makes the device `FAILED` in the "
            f"console. At most {MAX_FAILED_CONTENT} entries."
        ),
    )


class HeartbeatResponse(ResponseModel):
    server_time: datetime
    plan_etag: str | None = Field(description="ETag of the current plan; null if none yet.")
    plan_changed: bool = Field(description="True when the player should fetch GET /v1/device/plan.")
    heartbeat_interval_s: int = Field(description="Seconds until the next heartbeat is due.")
