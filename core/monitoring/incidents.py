"""What operators do with incidents: acknowledge ("someone is on it") and resolve ("fixed").

Both need the operate-incidents permission, lock the incident row, write one audit entry in
the same transaction, and publish an incident event after COMMIT. Acknowledging an already
acknowledged incident changes nothing and is not audited again; a resolved incident is
final, so acknowledging or resolving it is a conflict. Resolving an incident whose condition
still holds is allowed: the next sweep opens a fresh one, which is the honest outcome (use
acknowledge to say "known, being handled").
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import sqlalchemy as sa

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import IncidentStatus
from core.db.rows import get_by_id
from core.db.tables import incidents
from core.errors import Conflict, ValidationFailed
from core.events_bus import EventBus
from core.kernel.actor import Actor, Permission
from core.monitoring.events import IncidentEventKind, publish_after_commit
from core.monitoring.models import Incident

NOTE_MAX_CHARS = 1000


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    cleaned = note.strip()
    if len(cleaned) > NOTE_MAX_CHARS:
        raise ValidationFailed(
            f"note is longer than {NOTE_MAX_CHARS} characters",
            field="note",
            errors=[
                {
                    "field": "note",
                    "code": "too_long",
                    "message": f"note is longer than {NOTE_MAX_CHARS} characters",
                }
            ],
        )
    return cleaned or None


async def _change(
    services: Services,
    actor: Actor,
    incident_id: uuid.UUID,
    *,
    verb: str,
    note: str | None,
) -> Incident:
    actor.require(Permission.OPERATE_INCIDENTS)
    clean_note = _clean_note(note)
    now = services.clock.now()
    async with services.uow() as uow:
        row = await get_by_id(uow.conn, incidents, incident_id, what="incident", lock=True)
        before = Incident.from_row(row)
        if before.status is IncidentStatus.RESOLVED:
            raise Conflict(
                "the incident is already resolved", field="id", details={"reason": "resolved"}
            )
        if verb == "acknowledge" and before.status is IncidentStatus.ACKNOWLEDGED:
            return before
        values: dict[str, Any] = {"updated_at": now}
        details = dict(before.details)
        if verb == "acknowledge":
            values |= {
                "status": IncidentStatus.ACKNOWLEDGED.value,
                "acknowledged_at": now,
                "acknowledged_by": actor.user_id,
            }
            if clean_note:
                details["acknowledge_note"] = clean_note
            kind = IncidentEventKind.UPDATED
        else:
            values |= {
                "status": IncidentStatus.RESOLVED.value,
                "resolved_at": now,
                "resolved_by": actor.user_id,
            }
            details["resolution"] = {"by": "operator", "at": now.isoformat(), "note": clean_note}
            kind = IncidentEventKind.RESOLVED
        values["details_json"] = details
        after_row = (
            await uow.conn.execute(
                sa.update(incidents)
                .where(incidents.c.id == incident_id)
                .values(**values)
                .returning(*incidents.c)
            )
        ).one()
        after = Incident.from_row(after_row)
        await record(
            uow.conn,
            actor,
            action=f"incident.{verb}",
            target_type="incident",
            target_id=incident_id,
            before=dataclasses.asdict(before),
            after=dataclasses.asdict(after),
            details={"note": clean_note} if clean_note else None,
        )
        publish_after_commit(
            uow, EventBus(services.redis, services.keys), incidents=[(kind, after)]
        )
        await uow.commit()
    return after


async def acknowledge_incident(
    services: Services, actor: Actor, incident_id: uuid.UUID, *, note: str | None = None
) -> Incident:
    return await _change(services, actor, incident_id, verb="acknowledge", note=note)


async def resolve_incident(
    services: Services, actor: Actor, incident_id: uuid.UUID, *, note: str | None = None
) -> Incident:
    return await _change(services, actor, incident_id, verb="resolve", note=note)
