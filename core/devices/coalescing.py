"""Coalescing concurrent calls of one process into batches (the group-commit pattern).

Hot per-request work (recording a heartbeat, reading a token epoch) costs one round trip
each when done alone. A Coalescer starts a batch as soon as an item arrives, so an idle
process adds no latency; while `max_in_flight` batches are running, new items queue up and
go together in the next batch. Under load one statement or one Redis command serves many
requests, and the number of connections a process needs stays bounded by `max_in_flight`.

Each caller awaits only its own result. An exception raised for the batch reaches every
caller of that batch, unless the Coalescer was told to isolate it: then the batch is retried in
halves, so that only the callers whose items cause the failure get it (`core.isolating`). A
batch that succeeds pays nothing for this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.isolating import isolate_failures

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
        isolate: Callable[[Exception], bool] | None = None,
    ) -> None:
        """`distinct`: items with equal keys never share a batch, nor run in two batches at
        once, so they apply strictly in arrival order.
        `on_idle`: called when the last running batch ends with nothing queued.
        `isolate`: when a batch raises an exception for which this answers true, the batch
        is retried in halves (`core.isolating`) so the exception reaches only the callers
        whose items cause it; `run` must then be safe to repeat for items of a failed run
        (e.g. one atomic statement, which left nothing behind). The retries stop at a budget
        that isolates a few bad items per batch (`isolating_budget`)."""
        self._run = run
        self._isolate = isolate
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
        except Exception as exc:
            if self._isolate is None:
                _fail(batch, exc)
            else:
                await self._retry_isolating(batch, exc, self._isolate)
        except BaseException as exc:  # cancelled: so are the callers
            _fail(batch, exc)
            raise
        else:
            _answer(batch, results)

    async def _retry_isolating(
        self,
        batch: list[_Waiting[T, R]],
        failure: Exception,
        splittable: Callable[[Exception], bool],
    ) -> None:
        try:
            async for outcome in isolate_failures(
                batch,
                self._run_waiting,
                failure,
                splittable=splittable,
                max_attempts=isolating_budget(len(batch)),
            ):
                if outcome.error is not None:
                    _fail(outcome.items, outcome.error)
                elif outcome.result is not None:
                    _answer(outcome.items, outcome.result)
        except BaseException as exc:  # cancelled: so are the callers still waiting
            _fail(batch, exc)
            raise

    async def _run_waiting(self, part: Sequence[_Waiting[T, R]]) -> Sequence[R | BaseException]:
        return await self._run([waiting.item for waiting in part])


# Isolating one bad item among n takes about 2 x log2(n) runs; the budget covers a few per
# batch. A batch in which far more items fail is not a few bad items but a failure shared by
# all (a server gone read-only, a bug): the rest then fails unsplit, instead of ~2n runs (and,
# for the heartbeat writer, 2n fresh connections) per batch.
ISOLATED_PER_BATCH = 3


def isolating_budget(batch_size: int) -> int:
    return 2 * ISOLATED_PER_BATCH * max(batch_size.bit_length(), 1)


def _answer(batch: Sequence[_Waiting[T, R]], results: Sequence[R | BaseException]) -> None:
    for waiting, result in zip(batch, results, strict=True):
        if waiting.answer.done():  # its caller was cancelled
            continue
        if isinstance(result, BaseException):
            waiting.answer.set_exception(result)
        else:
            waiting.answer.set_result(result)


def _fail(batch: Sequence[_Waiting[T, R]], exc: BaseException) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(exc)
