"""One computation per key and process, shared by every local listener.

Why: a live view such as the fleet summary is the same for every console that asks for the
same scope. Computing it per subscriber made one device status change cost one SQL
transaction per open console (2,000 for 1,000 subscribers). A `SharedFeeds` runs ONE
producer per key while at least one listener in this process wants it, and hands each value
to all of them: the cost of a change is per scope, not per subscriber.

Listeners get the latest value at once (or wait for the first one), then every newer value.
A slow listener skips to the newest value instead of queueing stale ones, which suits state
snapshots (not event streams: those go through `core.events_bus`). When the producer fails,
every listener gets its exception and the next listener starts a fresh producer. The last
listener to leave stops the producer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(eq=False)
class _Feed(Generic[T]):
    listeners: int = 0
    version: int = 0  # how many values were produced; 0: none yet
    value: T | None = None
    error: Exception | None = None
    finished: bool = False
    # Replaced on every change: waiting listeners hold the old one, which is then set.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def publish(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class SharedFeeds(Generic[K, T]):
    """Running producers by key. Holds nothing once the last listener has left."""

    def __init__(self, *, name: str) -> None:
        self._name = name
        self._feeds: dict[K, _Feed[T]] = {}

    def producers(self) -> int:
        """Producers running in this process (for tests and metrics)."""
        return len(self._feeds)

    @asynccontextmanager
    async def listen(
        self, key: K, produce: Callable[[], AsyncIterator[T]]
    ) -> AsyncIterator[AsyncIterator[T]]:
        """The values for `key`, as long as the block runs. `produce()` makes the async
        iterator of successive values; it is called only when no producer for `key` runs."""
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = _Feed()
            feed.task = asyncio.create_task(
                self._run(key, feed, produce()), name=f"{self._name}-feed"
            )
        feed.listeners += 1
        try:
            yield self._values(feed)
        finally:
            feed.listeners -= 1
            if feed.listeners == 0:
                # Shielded: a listener cancelled twice must still stop the producer.
                await asyncio.shield(self._stop(key, feed))

    async def _run(self, key: K, feed: _Feed[T], values: AsyncIterator[T]) -> None:
        try:
            async for value in values:
                feed.value, feed.version = value, feed.version + 1
                feed.publish()
        except Exception as exc:  # handed to every listener, who decides what it means
            feed.error = exc
        finally:
            feed.finished = True
            if self._feeds.get(key) is feed:
                del self._feeds[key]  # the next listener starts afresh
            feed.publish()

    async def _stop(self, key: K, feed: _Feed[T]) -> None:
        if self._feeds.get(key) is feed:
            del self._feeds[key]
        task = feed.task
        if task is not None and not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    @staticmethod
    async def _values(feed: _Feed[T]) -> AsyncIterator[T]:
        seen = 0
        while True:
            while feed.version == seen and not feed.finished:
                await feed.changed.wait()
            if feed.version != seen:
                seen = feed.version
                value = feed.value
                assert value is not None
                yield value
                continue
            if feed.error is not None:
                raise feed.error
            return
