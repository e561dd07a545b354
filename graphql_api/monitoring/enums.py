"""Monitoring enums exposed to GraphQL; import them from here so they register once."""

from __future__ import annotations

import strawberry

from core.db.enums import IncidentStatus, IncidentType, Severity
from core.monitoring.events import IncidentEventKind

strawberry.enum(
    IncidentType,
    name="IncidentType",
    description="What went wrong; docs/monitoring.md defines when each opens and clears.",
)
strawberry.enum(Severity, name="IncidentSeverity")
strawberry.enum(
    IncidentStatus,
    name="IncidentStatus",
    description="OPEN, then ACKNOWLEDGED by an operator (optional), then RESOLVED (final).",
)
strawberry.enum(IncidentEventKind, name="IncidentEventKind")

__all__ = ["IncidentEventKind", "IncidentStatus", "IncidentType", "Severity"]
