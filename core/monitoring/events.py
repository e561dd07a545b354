"""Incident and device-status events: building them after COMMIT and reading them back.

The `incidents` channel carries `{"event": "opened"|"updated"|"resolved", "incident": {...}}`
with every column of the incident, so subscribers never need a query per event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog

from core.db.enums import DeviceStatus, IncidentStatus, IncidentType, Severity
from core.db.uow import UnitOfWork
from core.devices.status_events import DeviceStatusEvent, publish_status_events
from core.events_bus import INCIDENTS, EventBus
from core.monitoring.models import Incident, StatusChange

log = structlog.get_logger(__name__)


class IncidentEventKind(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"


def incident_payload(kind: IncidentEventKind, incident: Incident) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    def text(value: uuid.UUID | None) -> str | None:
        return None if value is None else str(value)

    return {
        "event": kind.value,
        "incident": {
            "id": str(incident.id),
            "device_id": str(incident.device_id),
            "store_id": text(incident.store_id),
            "type": incident.type.value,
            "severity": incident.severity.value,
            "status": incident.status.value,
            "details": incident.details,
            "created_at": iso(incident.created_at),
            "updated_at": iso(incident.updated_at),
            "acknowledged_at": iso(incident.acknowledged_at),
            "acknowledged_by": text(incident.acknowledged_by),
            "resolved_at": iso(incident.resolved_at),
            "resolved_by": text(incident.resolved_by),
        },
    }


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def parse_incident_event(payload: dict[str, Any]) -> tuple[IncidentEventKind, Incident] | None:
    """The event, or None when the payload is not one we understand (logged, skipped)."""
    try:
        data = payload["incident"]
        created_at, updated_at = _time(data["created_at"]), _time(data["updated_at"])
        assert created_at is not None and updated_at is not None
        incident = Incident(
            id=uuid.UUID(str(data["id"])),
            device_id=uuid.UUID(str(data["device_id"])),
            store_id=_uuid(data.get("store_id")),
            type=IncidentType(data["type"]),
            severity=Severity(data["severity"]),
            status=IncidentStatus(data["status"]),
            details=dict(data.get("details") or {}),
            created_at=created_at,
            updated_at=updated_at,
            acknowledged_at=_time(data.get("acknowledged_at")),
            acknowledged_by=_uuid(data.get("acknowledged_by")),
            resolved_at=_time(data.get("resolved_at")),
            resolved_by=_uuid(data.get("resolved_by")),
        )
        return IncidentEventKind(payload["event"]), incident
    except (KeyError, ValueError, TypeError, AssertionError):
        log.warning("ignoring a malformed incident event")
        return None


def parse_status_event(payload: dict[str, Any]) -> StatusChange | None:
    """A `device-status` message as a StatusChange, or None when malformed."""
    try:
        previous = payload.get("previous_status")
        return StatusChange(
            device_id=uuid.UUID(str(payload["device_id"])),
            store_id=_uuid(payload.get("store_id")),
            group_id=_uuid(payload.get("group_id")),
            status=DeviceStatus(payload["status"]),
            previous_status=None if previous is None else DeviceStatus(previous),
            last_seen_at=_time(payload.get("last_seen_at")),
        )
    except (KeyError, ValueError, TypeError):
        log.warning("ignoring a malformed device-status event")
        return None


def publish_after_commit(
    uow: UnitOfWork,
    bus: EventBus,
    *,
    status_changes: Sequence[StatusChange] = (),
    incidents: Sequence[tuple[IncidentEventKind, Incident]] = (),
) -> None:
    """Register the publication of these events for after COMMIT (never before: a
    subscriber must not see a change that could still roll back)."""
    if not status_changes and not incidents:
        return
    status_events = [
        DeviceStatusEvent(
            device_id=change.device_id,
            store_id=change.store_id,
            group_id=change.group_id,
            status=change.status.value,
            previous_status=None
            if change.previous_status is None
            else change.previous_status.value,
            last_seen_at=change.last_seen_at,
        )
        for change in status_changes
    ]
    incident_payloads = [incident_payload(kind, incident) for kind, incident in incidents]

    async def publish() -> None:
        await publish_status_events(bus.redis, bus.keys, status_events)
        if incident_payloads:
            await bus.publish_many(INCIDENTS, incident_payloads)

    uow.after_commit(publish)
