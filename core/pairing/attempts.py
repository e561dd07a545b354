"""Wrong claim-code attempts: three failure budgets, and the audit log.

What is a failure: an exchange answered `invalid_grant`: no claim matches (unknown or
malformed code, a wrong or missing device secret), or the code was already used. Anything
else (paired, pending, slow_down, expired, denied) proved that the caller holds a real code
and its secret, so it gives its slot back: a player that polls patiently never runs out of
budget. Neither does an error of ours (a 5xx): the caller learnt nothing from it.

The budgets (fixed windows of 15 minutes, `core.security.rate_limit.FailureLimiter`):
- per client address (`WRONG_CODE_LIMIT`): the address's own failures. A full address
  budget refuses every exchange that has to be evaluated, a correct code included: after
  ten wrong guesses an address cannot learn anything more until the window ends.
- per claim code (`CODE_FAILURE_LIMIT`): failures naming the same code from any address,
  e.g. a code visible on a screen tried with wrong device secrets from many hosts.
- global (`PAIRING_GLOBAL_FAILURE_LIMIT`): failures of every address together, i.e. a
  distributed guessing attack.

The rule, and why: slots are taken before the claim is looked up (atomically, so concurrent
guesses cannot multiply a budget); then
1. a screen-flow poll that carries the device secret of its claim skips every budget. That
   secret is 256 random bits: matching it is not a guess, and no budget is needed to protect
   it. So a player is never refused for anybody's failures, not even its NAT neighbours'.
2. the per-address budget refuses as described above.
3. the shared budgets (per code, global) cannot refuse a correct code: they are other
   people's failures. When one is exhausted, the claim is looked up read-only before any
   other work: a correct code (and secret) proceeds as usual; a wrong one is answered 429
   without the full evaluation, and costs its address the whole address budget for the rest
   of the window. During a distributed attack each attacking address thus gets one guess
   per window instead of ten, while installers with the right code still pair.
   What the shared budgets cannot do is hide whether a code is right: a correct code must
   pair. Guessing stays bounded by the addresses an attacker has, each one's budget, the
   code space (20^8) and the code lifetime (CLAIM_TTL_S, at most 30 days for installer
   codes); a shorter lifetime or fewer outstanding codes is the lever when that is not
   enough.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.errors import RateLimited
from core.kernel.actor import Actor
from core.security.rate_limit import (
    Attempt,
    Budget,
    FailureLimiter,
    FixedWindowLimiter,
    RateLimit,
)

FAILURE_WINDOW_S = 900
WRONG_CODE_LIMIT = RateLimit(name="claim-failures", limit=10, window_s=FAILURE_WINDOW_S)
CODE_FAILURE_LIMIT = RateLimit(name="claim-code-failures", limit=10, window_s=FAILURE_WINDOW_S)
GLOBAL_FAILURE_NAME = "claim-failures-all"
CREATE_CLAIM_LIMIT = RateLimit(name="claim-create", limit=30, window_s=600)
UNKNOWN_ADDRESS = "unknown"


def global_failure_limit(services: Services) -> RateLimit:
    return RateLimit(
        GLOBAL_FAILURE_NAME, services.settings.pairing_global_failure_limit, FAILURE_WINDOW_S
    )


def create_claim_limiter(services: Services) -> FixedWindowLimiter:
    return FixedWindowLimiter(services.redis, services.keys, services.clock, CREATE_CLAIM_LIMIT)


def _code_subject(code: str) -> str:
    """Redis keys never hold a live claim code."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()[:32]


@dataclass
class ClaimAttempt:
    """Slots taken for one exchange that has to be evaluated."""

    attempt: Attempt
    address: Budget

    @property
    def restricted(self) -> bool:
        """A shared budget is exhausted: only a correct code may be evaluated."""
        return bool(self.attempt.exhausted)

    async def refuse_guess(self) -> RateLimited:
        """A wrong code while restricted: a failure that exhausts its address's budget."""
        await self.attempt.settle(failed=True, fill=[self.address])
        return self.attempt.refusal(self.attempt.exhausted[0])

    async def settle(self, *, failed: bool) -> None:
        await self.attempt.settle(failed=failed)


async def reserve_claim_attempt(
    services: Services, *, client_ip: str | None, code: str | None
) -> ClaimAttempt:
    """Take a slot in the address, code and global budgets, or raise RateLimited when the
    address's own failures used up its window."""
    address = Budget(WRONG_CODE_LIMIT, client_ip or UNKNOWN_ADDRESS)
    budgets = [address, Budget(global_failure_limit(services), "all", gate=False)]
    if code is not None:  # a malformed code names no claim
        budgets.append(Budget(CODE_FAILURE_LIMIT, _code_subject(code), gate=False))
    limiter = FailureLimiter(services.redis, services.keys, services.clock)
    return ClaimAttempt(await limiter.reserve(budgets), address)


async def audit_failed_attempt(
    conn: AsyncConnection,
    *,
    client_ip: str | None,
    reason: str,
    claim_id: uuid.UUID | None,
    at: datetime,
) -> None:
    await record(
        conn,
        Actor.anonymous(client_ip),
        action="device_claim.attempt_failed",
        target_type="device_claim",
        target_id=claim_id,
        details={"reason": reason},
        at=at,
    )
