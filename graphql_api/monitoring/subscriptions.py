"""Live status over graphql-transport-ws, fed by Redis pub/sub (core.events_bus).

Every API process subscribes to the deployment's channels once and fans events out, so a
heartbeat on any edge process or a sweep in any worker reaches every console. Authentication
happens at `connection_init` (graphql_api/app.py); each field also needs read access. The
per-connection subscription limit is Strawberry's `max_subscriptions_per_connection`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator

import strawberry
from graphql import GraphQLError

from core.events_bus import DEVICE_STATUS, INCIDENTS, Event, EventBus, EventsLost, Subscription
from core.monitoring.events import parse_incident_event, parse_status_event
from graphql_api.context import AppInfo
from graphql_api.monitoring.enums import IncidentType
from graphql_api.monitoring.schema import load_summary
from graphql_api.monitoring.types import (
    DeviceStatusChange,
    FleetSummary,
    Incident,
    IncidentEvent,
)
from graphql_api.permissions import CanRead

# A burst of changes (a sweep flipping a whole store) becomes one summary update.
SUMMARY_COALESCE_S = 0.5


def _bus(info: AppInfo) -> EventBus:
    services = info.context.services
    return EventBus(services.redis, services.keys)


def _events_lost() -> GraphQLError:
    return GraphQLError(
        "live events were lost because the client fell behind; re-query and subscribe again",
        extensions={"code": "EVENTS_LOST"},
    )


async def _events(subscription: Subscription) -> AsyncIterator[Event]:
    try:
        async for event in subscription:
            yield event
    except EventsLost as exc:
        raise _events_lost() from exc


@strawberry.type
class MonitoringSubscription:
    @strawberry.subscription(
        permission_classes=[CanRead],
        description="Devices changing status (online/offline...), optionally only for one "
        "store and/or group.",
    )
    async def device_status_changed(
        self,
        info: AppInfo,
        store_id: uuid.UUID | None = None,
        group_id: uuid.UUID | None = None,
    ) -> AsyncGenerator[DeviceStatusChange, None]:
        async with _bus(info).subscribe(DEVICE_STATUS) as subscription:
            async for event in _events(subscription):
                change = parse_status_event(event.payload)
                if change is None or change.status == change.previous_status:
                    continue
                if store_id is not None and change.store_id != store_id:
                    continue
                if group_id is not None and change.group_id != group_id:
                    continue
                info.context.loaders.clear()  # the connection's context outlives each event
                yield DeviceStatusChange.from_core(change)

    @strawberry.subscription(
        permission_classes=[CanRead],
        description="Incidents opened, updated (acknowledged) and resolved, optionally only "
        "for one store, one device or some types.",
    )
    async def incident_events(
        self,
        info: AppInfo,
        store_id: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
        types: list[IncidentType] | None = None,
    ) -> AsyncGenerator[IncidentEvent, None]:
        wanted = set(types) if types else None
        async with _bus(info).subscribe(INCIDENTS) as subscription:
            async for event in _events(subscription):
                parsed = parse_incident_event(event.payload)
                if parsed is None:
                    continue
                kind, incident = parsed
                if store_id is not None and incident.store_id != store_id:
                    continue
                if device_id is not None and incident.device_id != device_id:
                    continue
                if wanted is not None and incident.type not in wanted:
                    continue
                info.context.loaders.clear()
                yield IncidentEvent(kind=kind, incident=Incident.from_core(incident))

    @strawberry.subscription(
        permission_classes=[CanRead],
        description="The fleet summary now, then again whenever it changes (at most about "
        "twice a second).",
    )
    async def fleet_summary(
        self,
        info: AppInfo,
        store_id: uuid.UUID | None = None,
        group_id: uuid.UUID | None = None,
    ) -> AsyncGenerator[FleetSummary, None]:
        async with _bus(info).subscribe(DEVICE_STATUS, INCIDENTS) as subscription:
            # Subscribed before the first read, so no change can slip in between.
            last = await load_summary(info, store_id, group_id)
            yield last
            changes = _events(subscription)
            while True:
                await anext(changes)
                await asyncio.sleep(SUMMARY_COALESCE_S)
                try:
                    subscription.drain()
                except EventsLost as exc:
                    raise _events_lost() from exc
                current = await load_summary(info, store_id, group_id)
                if _counts(current) != _counts(last):
                    last = current
                    yield current


def _counts(summary: FleetSummary) -> tuple[object, ...]:
    """Everything but the timestamp."""
    return (
        summary.devices_total,
        summary.online,
        summary.offline,
        summary.pending,
        summary.decommissioned,
        summary.open_incidents,
        summary.acknowledged_incidents,
        summary.critical_incidents,
        tuple((c.type, c.count) for c in summary.incidents_by_type),
        tuple((c.severity, c.count) for c in summary.incidents_by_severity),
    )
