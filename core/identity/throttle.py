"""Login throttling: failure budgets (core.security.rate_limit) per client address and per email.

Why both: a per-address budget stops one host from guessing many accounts, a per-email
budget stops a botnet from guessing one account. Both slots are taken, atomically, before
the deliberately slow Argon2 check, so concurrent guesses cannot multiply either budget (40
concurrent wrong passwords for one email used to be evaluated in full). A failed login
(unknown email, wrong password, disabled account) keeps its slots; a successful one gives
them back, so people who type their password right never use up their address's budget,
and a shared office address is limited only by its failures.

A full budget refuses even the right password: that is what makes the per-email budget a
limit on guessing. The owner waits for the window (RateLimited carries Retry-After) or an
administrator resets the password. Emails are hashed before they become part of a Redis
key, so Redis holds no personal data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.clock import Clock
from core.redis_client import Keys
from core.security.rate_limit import Attempt, Budget, FailureLimiter, RateLimit


def _email_subject(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class LoginThrottle:
    max_failures_per_ip: int = 20
    max_failures_per_email: int = 5
    window_s: int = 900

    async def admit(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        clock: Clock,
        *,
        client_ip: str | None,
        email: str,
    ) -> Attempt:
        """Take this attempt's slots, or raise RateLimited when either budget is full.
        Settle the attempt with `failed=` once the credentials are checked."""
        budgets = [
            Budget(
                RateLimit("login-email", self.max_failures_per_email, self.window_s),
                _email_subject(email),
            )
        ]
        if client_ip:
            rule = RateLimit("login-ip", self.max_failures_per_ip, self.window_s)
            budgets.append(Budget(rule, client_ip))
        return await FailureLimiter(redis, keys, clock).reserve(budgets)


DEFAULT_LOGIN_THROTTLE = LoginThrottle()
