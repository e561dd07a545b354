"""Operators acknowledge and resolve incidents: permission-checked, audited, published."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import Role
from core.db.tables import audit_log
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events_bus import INCIDENTS, EventBus
from core.kernel.actor import Actor
from core.monitoring.incidents import acknowledge_incident, resolve_incident
from core.monitoring.models import Incident
from core.monitoring.sweep import run_sweep
from tests.conftest import T0
from tests.monitoring.factories import make_device, make_store, make_user


async def open_incident(services: Services) -> Incident:
    store = await make_store(services)
    await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))
    [incident] = (await run_sweep(services)).opened
    return incident


async def audit_rows(services: Services) -> list[Any]:
    async with services.engine.connect() as conn:
        return list((await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).all())


async def test_acknowledge_then_resolve_are_audited_and_published(
    services: Services, clock: FrozenClock
) -> None:
    incident = await open_incident(services)
    operator = Actor.user(await make_user(services), Role.OPERATOR, client_ip="10.0.0.7")
    bus = EventBus(services.redis, services.keys)

    async with bus.subscribe(INCIDENTS) as events:
        clock.advance(timedelta(minutes=1))
        acked = await acknowledge_incident(services, operator, incident.id, note=" on my way ")
        again = await acknowledge_incident(services, operator, incident.id)  # no-op
        clock.advance(timedelta(minutes=1))
        resolved = await resolve_incident(services, operator, incident.id, note="cable replaced")
        published = [await asyncio.wait_for(anext(events), 5) for _ in range(2)]

    assert (acked.status.value, acked.acknowledged_by, acked.acknowledged_at) == (
        "ACKNOWLEDGED",
        operator.user_id,
        T0 + timedelta(minutes=1),
    )
    assert acked.details["acknowledge_note"] == "on my way"
    assert again == acked
    assert (resolved.status.value, resolved.resolved_by, resolved.resolved_at) == (
        "RESOLVED",
        operator.user_id,
        T0 + timedelta(minutes=2),
    )
    assert resolved.details["resolution"]["note"] == "cable replaced"

    rows = await audit_rows(services)
    assert [(r.action, r.target_type, r.target_id) for r in rows] == [
        ("incident.acknowledge", "incident", str(incident.id)),
        ("incident.resolve", "incident", str(incident.id)),
    ]
    assert all(r.actor_user_id == operator.user_id and r.client_ip == "10.0.0.7" for r in rows)
    assert rows[0].details_json["before"]["status"] == "OPEN"
    assert rows[0].details_json["after"]["status"] == "ACKNOWLEDGED"
    assert rows[1].details_json["after"]["status"] == "RESOLVED"

    assert [(e.payload["event"], e.payload["incident"]["status"]) for e in published] == [
        ("updated", "ACKNOWLEDGED"),
        ("resolved", "RESOLVED"),
    ]


async def test_a_resolved_incident_is_final(services: Services) -> None:
    incident = await open_incident(services)
    admin = Actor.user(await make_user(services, Role.ADMIN), Role.ADMIN)
    await resolve_incident(services, admin, incident.id)

    with pytest.raises(Conflict):
        await resolve_incident(services, admin, incident.id)
    with pytest.raises(Conflict):
        await acknowledge_incident(services, admin, incident.id)
    assert len(await audit_rows(services)) == 1


async def test_refusals_leave_no_trace(services: Services) -> None:
    incident = await open_incident(services)
    viewer = Actor.user(await make_user(services, Role.VIEWER), Role.VIEWER)
    operator = Actor.user(await make_user(services), Role.OPERATOR)

    with pytest.raises(PermissionDenied):
        await acknowledge_incident(services, viewer, incident.id)
    with pytest.raises(PermissionDenied):
        await resolve_incident(services, viewer, incident.id)
    with pytest.raises(NotFound):
        await resolve_incident(services, operator, uuid.uuid4())
    with pytest.raises(ValidationFailed) as caught:
        await acknowledge_incident(services, operator, incident.id, note="x" * 1001)
    assert caught.value.errors[0]["field"] == "note"
    assert await audit_rows(services) == []


async def test_resolving_while_the_condition_holds_reopens_at_the_next_sweep(
    services: Services,
) -> None:
    incident = await open_incident(services)
    operator = Actor.user(await make_user(services), Role.OPERATOR)
    await resolve_incident(services, operator, incident.id)

    [reopened] = (await run_sweep(services)).opened
    assert reopened.id != incident.id and reopened.device_id == incident.device_id
