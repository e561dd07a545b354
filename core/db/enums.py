"""Allowed values of enum-like columns, shared by check constraints and domain code."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "ADMIN"
    OPERATOR = "OPERATOR"
    VIEWER = "VIEWER"


class DeviceStatus(StrEnum):
    PENDING = "pending"
    ONLINE = "online"
    OFFLINE = "offline"
    DECOMMISSIONED = "decommissioned"


class SyncState(StrEnum):
    """How far a device is from running its desired plan (docs/convergence.md)."""

    IN_SYNC = "in_sync"  # runs the desired plan and holds every content version it needs
    PENDING = "pending"  # has not reported the desired plan's ETag yet (or has no plan yet)
    DOWNLOADING = "downloading"  # runs the desired plan, some content versions not cached yet
    FAILED = "failed"  # reported a failed download of a content version the plan needs


class ClaimFlow(StrEnum):
    SCREEN = "SCREEN"
    CONSOLE = "CONSOLE"


class ClaimStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DENIED = "DENIED"
    USED = "USED"


class ContentType(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    WEB = "web"


class UploadStatus(StrEnum):
    PENDING = "PENDING"
    FINALIZED = "FINALIZED"
    FAILED = "FAILED"


class PlanChangeKind(StrEnum):
    """What a plan-input change touched; the outbox (`plan_changes`) and the planning
    workers speak only these."""

    DEVICE = "device"  # store or group assignment
    GROUP = "group"  # default playlist (and membership, announced as devices)
    STORE = "store"  # timezone
    SCHEDULE = "schedule"
    PLAYLIST = "playlist"  # the playlist or its items
    CONTENT = "content"  # a new version: playlists following the latest one
    CONTENT_VERSION = "content_version"
    CAMPAIGN = "campaign"  # dates (bounds) or attribution


class TargetType(StrEnum):
    DEVICE = "DEVICE"
    GROUP = "GROUP"


class EventType(StrEnum):
    PLAY_START = "PLAY_START"
    PLAY_END = "PLAY_END"


class PlayResult(StrEnum):
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    INTERRUPTED = "INTERRUPTED"


class IncidentType(StrEnum):
    PLAYBACK_STUCK = "PLAYBACK_STUCK"
    DOWNLOAD_FAIL = "DOWNLOAD_FAIL"
    LOW_STORAGE = "LOW_STORAGE"
    CRASH_LOOP = "CRASH_LOOP"
    OFFLINE_DURING_HOURS = "OFFLINE_DURING_HOURS"


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class IncidentStatus(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


class ActorType(StrEnum):
    USER = "USER"
    DEVICE = "DEVICE"
    SYSTEM = "SYSTEM"
    ANONYMOUS = "ANONYMOUS"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)
