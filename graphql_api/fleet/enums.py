"""Core enums exposed as GraphQL enums; import them from here so they register once."""

from __future__ import annotations

import strawberry

from core.db.enums import DeviceStatus, SyncState

strawberry.enum(
    DeviceStatus,
    name="DeviceStatus",
    description="PENDING: paired, never seen; ONLINE/OFFLINE: by heartbeat; DECOMMISSIONED: "
    "retired, tokens revoked.",
)

strawberry.enum(
    SyncState,
    name="SyncState",
    description="How far a device is from its desired plan (docs/convergence.md). IN_SYNC: "
    "runs it and holds all its content; PENDING: has not reported its ETag yet; "
    "DOWNLOADING: runs it, some content not downloaded yet; FAILED: a download of content "
    "it needs failed.",
)

__all__ = ["DeviceStatus", "SyncState"]
