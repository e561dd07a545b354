"""Fixed-window limits in Redis, bucketed by the injected clock, whose slots are taken before
the work they limit.

Why fixed windows keyed by clock time: every edge process shares the count, and tests can
travel past a window with the FrozenClock instead of sleeping. The Redis TTL only
garbage-collects old buckets; it never decides whether a request is allowed.

Two shapes:
- `FixedWindowLimiter.consume` counts every request (e.g. claim creation per address): one
  INCR, whose answer is the count, so concurrent requests can never both see room.
- `FailureLimiter.reserve` limits how many attempts that may *fail* (a wrong password, a
  wrong claim code) are evaluated. Checking a failure count first and adding to it after the
  work let concurrent guesses all see the same count: 45 of 100 concurrent wrong claim codes
  were evaluated against a limit of 10. So every attempt first takes a *pending* slot, in
  every budget at once, in one Lua script (atomic in Redis): settled failures plus attempts
  still in flight never exceed a budget's limit. `Attempt.settle` then turns the slot into a
  failure, or gives it back: a success costs nothing.

An attempt that finds a budget full only because other attempts are still in flight waits
for them a little (`BUSY_WAIT_S`) instead of being refused: a burst of correct claim codes
from one address (a store's NAT, the simulator) must not be refused for the failures that
may not happen. Only settled failures answer `RateLimited` with the rest of the window.

Why not the `limits` library: it supports redis-py's asyncio client
(`implementation="redispy"`, sharing our connection pool and hiredis) and a key prefix, but
its windows are Redis TTLs and `time.time()`, not the injected clock, and it has neither a
reservation taken in several budgets at once nor a refund.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.clock import Clock
from core.errors import RateLimited
from core.redis_client import Keys

# How long an attempt waits for in-flight attempts of a full budget before answering 429.
BUSY_WAIT_S = 5.0
_BUSY_POLL_S = (0.005, 0.1)  # first and longest pause between two reservation tries
# A pending slot outlives a crashed process by at most this long after the subject's last attempt.
PENDING_TTL_S = 120


@dataclass(frozen=True)
class RateLimit:
    name: str
    limit: int
    window_s: int


def _window(clock: Clock, keys: Keys, rule: RateLimit, subject: str) -> tuple[str, int]:
    """The current bucket key of `subject` and how many seconds remain until it resets."""
    now = clock.now().timestamp()
    index = int(now // rule.window_s)
    retry_after = max(1, math.ceil((index + 1) * rule.window_s - now))
    return keys.key("ratelimit", rule.name, subject, str(index)), retry_after


def refusal(retry_after: int) -> RateLimited:
    return RateLimited(f"too many requests; retry in {retry_after} s", retry_after_s=retry_after)


class FixedWindowLimiter:
    """Counts every request of a subject; the one over the limit and later ones are refused."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, clock: Clock, rule: RateLimit) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self.rule = rule

    async def consume(self, subject: str, amount: int = 1) -> None:
        """Count one request (or `amount` units of work, e.g. the events of a batch) and raise
        RateLimited if it went over the limit."""
        key, retry_after = _window(self._clock, self._keys, self.rule, subject)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, amount)
            pipe.expire(key, self.rule.window_s + 60)
            count, _ = await pipe.execute()
        if int(count) > self.rule.limit:
            raise refusal(retry_after)


@dataclass(frozen=True)
class Budget:
    """A failure budget of one subject.

    A *gate* budget refuses an attempt when it is full. A shared budget (`gate=False`, e.g.
    the failures of every address together) never refuses by itself: it only reports that
    it is exhausted (`Attempt.exhausted`), so the caller can decide what a full shared budget
    means without refusing a legitimate caller for other people's failures.
    """

    rule: RateLimit
    subject: str
    gate: bool = True


# KEYS: per budget i, its window bucket (2i-1) and its pending counter (2i).
# ARGV: per budget i, its limit (2i-1) and gate flag (2i); last: the pending counters' TTL.
# {0, i...}: slots taken, i = shared budgets now over their limit; {1, i}: gate budget i is
# full of settled failures; {2, i}: gate budget i is full with attempts in flight.
_RESERVE = """
local n = #KEYS / 2
local function used(i) return tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0') end
local function pending(i) return tonumber(redis.call('GET', KEYS[2 * i]) or '0') end
for i = 1, n do
  if ARGV[2 * i] == '1' and used(i) >= tonumber(ARGV[2 * i - 1]) then return {1, i} end
end
for i = 1, n do
  if ARGV[2 * i] == '1' and used(i) + pending(i) >= tonumber(ARGV[2 * i - 1]) then
    return {2, i}
  end
end
local result = {0}
for i = 1, n do
  local in_flight = redis.call('INCR', KEYS[2 * i])
  redis.call('EXPIRE', KEYS[2 * i], ARGV[#ARGV])
  if used(i) + in_flight > tonumber(ARGV[2 * i - 1]) then result[#result + 1] = i end
end
return result
"""

# KEYS as for _RESERVE. ARGV: per budget i, the bucket TTL (3i-2), what the attempt adds to
# the bucket (3i-1): 0 (a success), 1 (a failure) or -1 (fill it: exhausted), and limit (3i).
_SETTLE = """
for i = 1, #KEYS / 2 do
  local bucket, in_flight = KEYS[2 * i - 1], KEYS[2 * i]
  if tonumber(redis.call('GET', in_flight) or '0') > 0 then redis.call('DECR', in_flight) end
  local add = tonumber(ARGV[3 * i - 1])
  if add < 0 then
    add = math.max(tonumber(ARGV[3 * i]) - tonumber(redis.call('GET', bucket) or '0'), 1)
  end
  if add > 0 then
    redis.call('INCRBY', bucket, add)
    redis.call('EXPIRE', bucket, ARGV[3 * i - 2])
  end
end
return 0
"""


@dataclass
class Attempt:
    """Pending slots taken in some budgets; settle exactly once (`settle`)."""

    limiter: FailureLimiter
    budgets: tuple[Budget, ...]
    keys: tuple[str, ...]
    retry_after: tuple[int, ...]
    exhausted: tuple[Budget, ...]
    settled: bool = False

    def refusal(self, budget: Budget) -> RateLimited:
        """The 429 for this attempt because of `budget` (the rest of its window)."""
        return refusal(self.retry_after[self.budgets.index(budget)])

    async def settle(self, *, failed: bool, fill: Collection[Budget] = ()) -> None:
        """Give the slots back (`failed=False`) or count a failure in every budget; a budget
        in `fill` is counted as exhausted for the rest of its window."""
        if self.settled:
            return
        self.settled = True
        await self.limiter._settle(self, failed=failed, fill=fill)


class FailureLimiter:
    def __init__(self, redis: aioredis.Redis, keys: Keys, clock: Clock) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._reserve = redis.register_script(_RESERVE)
        self._settle_script = redis.register_script(_SETTLE)

    def _pending_key(self, budget: Budget) -> str:
        return self._keys.key("ratelimit", budget.rule.name, budget.subject, "pending")

    async def reserve(self, budgets: Sequence[Budget]) -> Attempt:
        """Take a pending slot in every budget, or raise RateLimited (and take none) when a
        gate budget is full. Waits up to BUSY_WAIT_S while it is full only of attempts in
        flight."""
        keys: list[str] = []
        retry_after: list[int] = []
        args: list[int] = []
        for budget in budgets:
            bucket, remaining = _window(self._clock, self._keys, budget.rule, budget.subject)
            keys += [bucket, self._pending_key(budget)]
            retry_after.append(remaining)
            args += [budget.rule.limit, 1 if budget.gate else 0]
        args.append(PENDING_TTL_S)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_WAIT_S
        pause = _BUSY_POLL_S[0]
        while True:
            outcome, *indices = [int(v) for v in await self._reserve(keys=keys, args=args)]
            if outcome == 0:
                return Attempt(
                    self,
                    tuple(budgets),
                    tuple(keys),
                    tuple(retry_after),
                    exhausted=tuple(budgets[i - 1] for i in indices),
                )
            if outcome == 1:
                raise refusal(retry_after[indices[0] - 1])
            if loop.time() + pause > deadline:
                raise refusal(1)  # still busy: worth retrying soon
            await asyncio.sleep(pause)
            pause = min(pause * 2, _BUSY_POLL_S[1])

    async def _settle(self, attempt: Attempt, *, failed: bool, fill: Collection[Budget]) -> None:
        args: list[int] = []
        for budget in attempt.budgets:
            add = -1 if budget in fill else (1 if failed else 0)
            args += [budget.rule.window_s + 60, add, budget.rule.limit]
        await self._settle_script(keys=list(attempt.keys), args=args)
