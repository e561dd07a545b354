"""Coalescing concurrent calls of one process into batches (the group-commit pattern).

Hot per-request work (recording a heartbeat, reading a token epoch) costs one round trip
each when done alone. A Coalescer starts a batch as soon as an item arrives, so an idle
process adds no latency; while `max_in_flight` batches are running, new items queue up and
go together in the next batch. Under load one statement or one Redis command serves many
requests, and the number of connections a process needs stays bounded by `max_in_flight`.

Each caller awaits only its own result; an exception raised for the batch reaches every
caller of that batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Runs one batch; returns, in order, each item's result or the exception to raise for it.
BatchFn = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


@dataclass(frozen=True)
class _Waiting(Generic[T, R]):
    item: T
    answer: asyncio.Future[R]


class Coalescer(Generic[T, R]):
    def __init__(
        self,
        run: BatchFn[T, R],
        *,
        max_batch: int = 500,
        max_in_flight: int = 4,
        distinct: Callable[[T], Hashable] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        """`distinct`: items with equal keys never share a batch, nor run in two batches at
        once, so they apply strictly in arrival order.
        `on_idle`: called when the last running batch ends with nothing queued."""
        self._run = run
        self._on_idle = on_idle
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._distinct = distinct
        self._queue: list[_Waiting[T, R]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._busy_keys: dict[asyncio.Task[None], set[Hashable]] = {}  # per running batch
        self.batches = 0  # for tests and metrics

    async def submit(self, item: T) -> R:
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(item, answer))
        self._start()
        return await answer

    def _take(self) -> tuple[list[_Waiting[T, R]], set[Hashable]]:
        batch: list[_Waiting[T, R]] = []
        rest: list[_Waiting[T, R]] = []
        seen: set[Hashable] = set()
        busy = set().union(*self._busy_keys.values())
        for waiting in self._queue:
            if waiting.answer.done():  # its caller was cancelled
                continue
            key = self._distinct(waiting.item) if self._distinct else None
            if len(batch) >= self._max_batch or (key is not None and (key in seen or key in busy)):
                rest.append(waiting)
                continue
            if key is not None:
                seen.add(key)
            batch.append(waiting)
        self._queue = rest
        return batch, seen

    def _start(self) -> None:
        while self._queue and len(self._in_flight) < self._max_in_flight:
            batch, keys = self._take()
            if not batch:
                return
            task = asyncio.create_task(self._execute(batch))
            self._busy_keys[task] = keys
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    @property
    def idle(self) -> bool:
        return not self._in_flight and not self._queue

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._busy_keys.pop(task, None)
        self._start()
        if self._on_idle is not None and self.idle:
            self._on_idle()

    async def _execute(self, batch: list[_Waiting[T, R]]) -> None:
        self.batches += 1
        try:
            results = await self._run([waiting.item for waiting in batch])
        except BaseException as exc:
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for waiting, result in zip(batch, results, strict=True):
            if waiting.answer.done():
                continue
            if isinstance(result, BaseException):
                waiting.answer.set_exception(result)
            else:
                waiting.answer.set_result(result)
