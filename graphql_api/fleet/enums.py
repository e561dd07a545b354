"""Core enums exposed as GraphQL enums; import them from here so they register once."""

from __future__ import annotations

import strawberry

from core.db.enums import DeviceStatus

strawberry.enum(
    DeviceStatus,
    name="DeviceStatus",
    description="PENDING: paired, never seen; ONLINE/OFFLINE: by heartbeat; DECOMMISSIONED: "
    "retired, tokens revoked.",
)

__all__ = ["DeviceStatus"]
