"""Live events over Redis pub/sub, so a change seen by any process reaches every API process.

Publishers (the device edge on heartbeats, the monitoring sweep, incident services) call
`EventBus.publish` after COMMIT. Subscribers (GraphQL subscriptions) use
`EventBus.subscribe(...)`, which fans out from ONE pub/sub connection per process and Redis
client: the connection pattern-subscribes to every channel of this deployment
(`keys.channel("*")`) while at least one local subscriber exists, and closes when the last
one leaves. A thousand console tabs therefore cost one Redis connection, not a thousand.

Messages are JSON objects. Pub/sub is fire-and-forget: a subscriber that is not connected
misses events, so clients re-query state when they (re)subscribe. A subscriber that falls
more than `queue_size` events behind gets `EventsLost` rather than a silently partial stream.

Channel payloads (the contract between edge, workers and API):
- `device-status`: {device_id, store_id, group_id, status, previous_status, last_seen_at}
  (ids as strings or null, times ISO 8601), one per status CHANGE, built and published by
  `core.devices.status_events` (heartbeats on the edge, the offline sweep). Extra keys are
  allowed and ignored.
- `device-sync`: {device_id, store_id, group_id, sync_state, previous_sync_state, since,
  desired_plan_etag, reported_plan_etag}, one per sync-state CHANGE, built and published by
  `core.devices.sync_events` (heartbeat batches on the edge, plan regeneration in workers).
- `incidents`: {event: opened|updated|resolved, incident: {...}} (see core.monitoring.events).
- `sessions`: {user_id, epoch}, published by core.identity.sessions after a user's token epoch
  was bumped (disable, role change, logout everywhere, refresh-token reuse): every API process
  closes that user's websockets whose token carries an older epoch.

Work that every local subscriber would repeat for the same event (loading the rows a
subscription's fields show) is done once: `Event.shared(key, factory)` keeps one value per
event for all of them, since the hub hands the same Event object to every subscriber.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

# The channel names are the kernel's (publishers import them without importing this hub).
from core.kernel.channels import DEVICE_STATUS as DEVICE_STATUS
from core.kernel.channels import DEVICE_SYNC as DEVICE_SYNC
from core.kernel.channels import INCIDENTS as INCIDENTS
from core.kernel.channels import SESSIONS as SESSIONS
from core.redis_client import Keys, publish_all

log = structlog.get_logger(__name__)

T = TypeVar("T")

DEFAULT_QUEUE_SIZE = 1000
_RECONNECT_DELAY_S = 0.5


class EventsLost(RuntimeError):
    """The subscriber fell too far behind and events were dropped."""


@dataclass(frozen=True)
class Event:
    channel: str  # the short name, e.g. "device-status"
    payload: dict[str, Any]
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def shared(self, key: str, factory: Callable[[], T]) -> T:
        """The value stored under `key` for this event, made by `factory` on first use: what
        one subscriber computes for an event, the others in this process reuse."""
        if key not in self.memo:
            self.memo[key] = factory()
        value: T = self.memo[key]
        return value


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return orjson.dumps(payload, default=str)


def _glob_escape(text: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


@dataclass(eq=False)
class Subscription:
    channels: frozenset[str]
    queue: asyncio.Queue[Event]
    overflowed: bool = False

    def __aiter__(self) -> Subscription:
        return self

    def drain(self) -> int:
        """Discard the events already queued (a consumer that only needs "something
        changed"); returns how many there were."""
        if self.overflowed:
            raise EventsLost("too many events arrived faster than they were consumed")
        count = 0
        while not self.queue.empty():
            self.queue.get_nowait()
            count += 1
        return count

    async def __anext__(self) -> Event:
        if self.overflowed:
            raise EventsLost("too many events arrived faster than they were consumed")
        event = await self.queue.get()
        if self.overflowed:
            raise EventsLost("too many events arrived faster than they were consumed")
        return event


@dataclass(eq=False)
class _Hub:
    """One pattern subscription per Redis client, shared by every local subscriber."""

    redis: aioredis.Redis
    channel_prefix: str
    subscribers: set[Subscription] = field(default_factory=set)
    # The same subscribers by channel: an event costs only its own channel's subscribers.
    by_channel: dict[str, set[Subscription]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pubsub: Any = None
    task: asyncio.Task[None] | None = None

    async def add(self, subscription: Subscription) -> None:
        async with self.lock:
            if self.task is None:
                await self._start()
            self.subscribers.add(subscription)
            for channel in subscription.channels:
                self.by_channel.setdefault(channel, set()).add(subscription)

    async def remove(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)  # at once, even if stopping is interrupted
        for channel in subscription.channels:
            listeners = self.by_channel.get(channel)
            if listeners is not None:
                listeners.discard(subscription)
                if not listeners:
                    del self.by_channel[channel]
        async with self.lock:
            if not self.subscribers and self.task is not None:
                await self._stop()

    async def _start(self) -> None:
        pubsub: Any = self.redis.pubsub()  # redis-py leaves PubSub partly untyped
        try:
            await pubsub.psubscribe(_glob_escape(self.channel_prefix) + "*")
            # Wait for the confirmation: events published after this point are delivered.
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    raise TimeoutError("Redis did not confirm the pub/sub subscription")
                if message["type"] == "psubscribe":
                    break
        except BaseException:
            await pubsub.aclose()
            raise
        self.pubsub = pubsub
        self.task = asyncio.create_task(self._run(pubsub), name="events-bus-reader")

    async def _stop(self) -> None:
        task, pubsub = self.task, self.pubsub
        self.task, self.pubsub = None, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if pubsub is not None:
            with suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _run(self, pubsub: Any) -> None:
        lost_at: float | None = None  # an outage is logged once when it starts and once at its end
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if lost_at is not None:
                    # Any answer (the re-subscription's confirmation included) means it is back.
                    log.info(
                        "events bus connection restored",
                        outage_s=round(time.monotonic() - lost_at, 3),
                    )
                    lost_at = None
                if message is not None and message.get("type") == "pmessage":
                    self._dispatch(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                # redis-py reconnects and re-subscribes on the next call; events published
                # meanwhile are lost, as pub/sub always loses them for absent subscribers.
                if lost_at is None:
                    lost_at = time.monotonic()
                    log.warning(
                        "events bus connection lost; reconnecting", error=type(exc).__name__
                    )
                await asyncio.sleep(_RECONNECT_DELAY_S)
            except Exception:  # one bad message must not silence every subscriber
                log.exception("events bus failed to dispatch a message")

    def _dispatch(self, raw_channel: bytes | str, data: bytes | str) -> None:
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        name = channel.removeprefix(self.channel_prefix)
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("ignoring a non-JSON event", channel=name)
            return
        if not isinstance(payload, dict):
            log.warning("ignoring an event that is not a JSON object", channel=name)
            return
        event = Event(name, payload)
        for subscription in list(self.by_channel.get(name, ())):
            if subscription.overflowed:
                continue
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.overflowed = True
                log.warning("subscriber overflowed; its stream ends", channel=name)


_hubs: weakref.WeakKeyDictionary[aioredis.Redis, _Hub] = weakref.WeakKeyDictionary()


class EventBus:
    """Cheap to construct: the shared state lives in the per-Redis-client hub."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def _hub(self) -> _Hub:
        hub = _hubs.get(self.redis)
        if hub is None:
            hub = _Hub(self.redis, self.keys.channel(""))
            _hubs[self.redis] = hub
        return hub

    async def publish(self, channel: str, payload: Mapping[str, Any]) -> None:
        await self.redis.publish(self.keys.channel(channel), _dumps(payload))

    async def publish_many(self, channel: str, payloads: Iterable[Mapping[str, Any]]) -> int:
        """One message per payload, in order, in a few commands (`publish_all`)."""
        messages = [_dumps(payload) for payload in payloads]
        return await publish_all(self.redis, self.keys.channel(channel), messages)

    @asynccontextmanager
    async def subscribe(
        self, *channels: str, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> AsyncIterator[Subscription]:
        """Receive events on the given short channel names until the block exits. Events
        published after this returns are delivered."""
        subscription = Subscription(frozenset(channels), asyncio.Queue(maxsize=queue_size))
        hub = self._hub()
        await hub.add(subscription)
        try:
            yield subscription
        finally:
            # Shielded: a subscriber cancelled twice must still release the shared connection.
            await asyncio.shield(hub.remove(subscription))

    def local_subscribers(self, channel: str) -> int:
        """Subscribers in this process listening on `channel` (for tests and metrics)."""
        hub = _hubs.get(self.redis)
        if hub is None:
            return 0
        return len(hub.by_channel.get(channel, ()))
