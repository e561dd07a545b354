"""Finding the few items that make a set-based operation fail, so the rest still succeed.

One statement for many items (a coalesced heartbeat batch, a monitoring rule over the whole
fleet) is what makes the hot paths cheap, but it fails as a whole: one item PostgreSQL
refuses would fail every other item with it. When such an operation has failed, it is tried
again on halves, and again on the halves of whatever half still fails, until each failure
stands alone. Only failing parts are retried, so every other item is done exactly once.

Halving rather than trying each item alone: k bad items among n cost about 2·k·log2(n)
attempts instead of n, so one poisoned heartbeat in a batch of 500 costs ~18 statements, not
500, and a batch full of honest items pays nothing at all (callers only get here after a
failure). Attempts run one after another, so isolating never needs more than one connection.

A failure that `splittable` refuses (a backend out of reach) is not the items' fault: it is
given to every item not yet done, without further attempts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """What became of a part: its result, or the exception that failed it. A part that failed
    with a splittable exception holds a single item, unless the budget ran out."""

    items: Sequence[T]
    result: R | None = None
    error: Exception | None = None


async def isolate_failures(
    items: Sequence[T],
    attempt: Callable[[Sequence[T]], Awaitable[R]],
    failure: Exception,
    *,
    splittable: Callable[[Exception], bool],
    max_attempts: int | None = None,
) -> AsyncIterator[Outcome[T, R]]:
    """`items` just failed together with `failure`: isolate the ones that make `attempt` fail.

    Yields an outcome as soon as each part is settled (so the callers of a part that
    succeeded need not wait for the rest), covering every item once, in no particular order.
    `max_attempts` bounds the work when far more items fail than expected (a failure that is
    not about the items at all): the parts still pending then fail with the last error,
    unsplit. A BaseException that is not an Exception (cancellation) propagates at once.
    """
    if len(items) < 2 or not splittable(failure):
        yield Outcome(items, error=failure)
        return
    pending: list[Sequence[T]] = _halves(items)
    attempts = 0
    while pending:
        part = pending.pop()
        attempts += 1
        try:
            result = await attempt(part)
        except Exception as exc:
            failure = exc
        else:
            yield Outcome(part, result=result)
            continue
        if not splittable(failure) or (max_attempts is not None and attempts >= max_attempts):
            # Not the items' fault (or too many failures to be about a few items): the
            # rest fails alike, without further attempts.
            for rest in [part, *reversed(pending)]:
                yield Outcome(rest, error=failure)
            return
        if len(part) > 1:
            pending.extend(_halves(part))
        else:
            yield Outcome(part, error=failure)


def _halves(items: Sequence[T]) -> list[Sequence[T]]:
    """Second half first: `pending` is a stack, so the first half is attempted first."""
    middle = len(items) // 2
    return [part for part in (items[middle:], items[:middle]) if part]
