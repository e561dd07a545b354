"""Live status over graphql-transport-ws, fed by Redis pub/sub (core.events_bus).

Every API process subscribes to the deployment's channels once and fans events out, so a
heartbeat on any edge process or a sweep in any worker reaches every console. Authentication
happens at `connection_init` and again for every operation (graphql_api/websocket.py); each
field also needs read access. The per-connection subscription limit is Strawberry's
`max_subscriptions_per_connection`.

What a change costs does not grow with the number of subscribers in a process:
- `deviceStatusChanged`, `deviceSyncStateChanged` and `incidentEvents`: an event is parsed
  once, and the rows its fields show (device, store, ...) are loaded through DataLoaders
  shared by every local subscriber of that event (`Event.shared`): N consoles showing the
  same device cost one query per event, not N;
- `fleetSummary`: one producer per scope (storeId, groupId) and process
  (`core.shared_feeds`) recomputes the summary once per coalesced burst of changes and hands
  the result to every subscriber of that scope; a new subscriber gets the current one at
  once, without a query.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from functools import partial
from typing import Protocol

import redis.asyncio as aioredis
import strawberry
from graphql import GraphQLError

from core.bootstrap import Services
from core.devices.sync_events import parse_sync_event
from core.events_bus import (
    DEVICE_STATUS,
    DEVICE_SYNC,
    INCIDENTS,
    Event,
    EventBus,
    EventsLost,
    Subscription,
)
from core.monitoring.events import parse_incident_event, parse_status_event
from core.shared_feeds import SharedFeeds
from graphql_api.context import AppInfo, Loaders
from graphql_api.monitoring.enums import IncidentType
from graphql_api.monitoring.schema import load_summary
from graphql_api.monitoring.types import (
    DeviceStatusChange,
    DeviceSyncStateChange,
    FleetSummary,
    Incident,
    IncidentEvent,
)
from graphql_api.permissions import CanRead

# A burst of changes (a sweep flipping a whole store) becomes one summary update.
SUMMARY_COALESCE_S = 0.5

SummaryScope = tuple[uuid.UUID | None, uuid.UUID | None]

# Per Redis client, like the events bus hub: one set of summary producers per deployment.
_summary_feeds: weakref.WeakKeyDictionary[
    aioredis.Redis, SharedFeeds[SummaryScope, FleetSummary]
] = weakref.WeakKeyDictionary()


def summary_feeds(services: Services) -> SharedFeeds[SummaryScope, FleetSummary]:
    feeds = _summary_feeds.get(services.redis)
    if feeds is None:
        feeds = _summary_feeds[services.redis] = SharedFeeds(name="fleet-summary")
    return feeds


def _use_event_loaders(info: AppInfo, event: Event) -> None:
    """Resolve this event's fields with the DataLoaders every local subscriber of the event
    shares. Safe across users: loaders cache rows, and each subscriber's own permission
    checks still run on its own (per-operation) context."""
    services = info.context.services
    info.context.loaders = event.shared("loaders", lambda: Loaders(services))


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


class _DeviceChange(Protocol):
    @property
    def device_id(self) -> uuid.UUID: ...
    @property
    def store_id(self) -> uuid.UUID | None: ...
    @property
    def group_id(self) -> uuid.UUID | None: ...


def _in_scope(
    change: _DeviceChange,
    store_id: uuid.UUID | None,
    group_id: uuid.UUID | None,
    device_id: uuid.UUID | None = None,
) -> bool:
    """A device event within the subscription's optional store, group and device."""
    return (
        (store_id is None or change.store_id == store_id)
        and (group_id is None or change.group_id == group_id)
        and (device_id is None or change.device_id == device_id)
    )


async def _summaries(services: Services, scope: SummaryScope) -> AsyncIterator[FleetSummary]:
    """The summary for one scope now, then after each burst of changes that alters it."""
    store_id, group_id = scope
    bus = EventBus(services.redis, services.keys)
    async with bus.subscribe(DEVICE_STATUS, DEVICE_SYNC, INCIDENTS) as subscription:
        # Subscribed before the first read, so no change can slip in between.
        last = await load_summary(services, store_id, group_id)
        yield last
        while True:
            await anext(subscription)
            await asyncio.sleep(SUMMARY_COALESCE_S)
            subscription.drain()
            current = await load_summary(services, store_id, group_id)
            if _counts(current) != _counts(last):
                last = current
                yield current


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
                change = event.shared("change", partial(parse_status_event, event.payload))
                if change is None or change.status == change.previous_status:
                    continue
                if not _in_scope(change, store_id, group_id):
                    continue
                _use_event_loaders(info, event)
                yield DeviceStatusChange.from_core(change)

    @strawberry.subscription(
        permission_classes=[CanRead],
        description="Devices entering another sync state (in sync, pending, downloading, "
        "failed; docs/convergence.md), optionally only for one store, group and/or device.",
    )
    async def device_sync_state_changed(
        self,
        info: AppInfo,
        store_id: uuid.UUID | None = None,
        group_id: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
    ) -> AsyncGenerator[DeviceSyncStateChange, None]:
        async with _bus(info).subscribe(DEVICE_SYNC) as subscription:
            async for event in _events(subscription):
                change = event.shared("sync", partial(parse_sync_event, event.payload))
                if change is None or change.sync_state == change.previous_sync_state:
                    continue
                if not _in_scope(change, store_id, group_id, device_id):
                    continue
                _use_event_loaders(info, event)
                yield DeviceSyncStateChange.from_core(change)

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
                parsed = event.shared("incident", partial(parse_incident_event, event.payload))
                if parsed is None:
                    continue
                kind, incident = parsed
                if store_id is not None and incident.store_id != store_id:
                    continue
                if device_id is not None and incident.device_id != device_id:
                    continue
                if wanted is not None and incident.type not in wanted:
                    continue
                _use_event_loaders(info, event)
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
        services = info.context.services
        scope: SummaryScope = (store_id, group_id)
        feeds = summary_feeds(services)
        async with feeds.listen(scope, lambda: _summaries(services, scope)) as summaries:
            try:
                async for summary in summaries:
                    yield summary
            except EventsLost as exc:
                raise _events_lost() from exc


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
        tuple((c.sync_state, c.count) for c in summary.devices_by_sync_state),
    )
