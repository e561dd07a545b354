"""Login throttling: fixed windows (core.security.rate_limit) per client address and per email.

Why both: a per-address limit stops one host from guessing many accounts, a per-email limit
stops a botnet from guessing one account. The address counts every attempt (rejected cheaply,
before the deliberately slow Argon2 check); the email counts only failures, so a user who
types the password right is never locked out by their own successes. Emails are hashed before
they become part of a Redis key, so Redis holds no personal data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.clock import Clock
from core.redis_client import Keys
from core.security.rate_limit import FixedWindowLimiter, RateLimit


def _email_subject(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class LoginThrottle:
    max_attempts_per_ip: int = 20
    max_failures_per_email: int = 5
    window_s: int = 900

    def _per_ip(self, redis: aioredis.Redis, keys: Keys, clock: Clock) -> FixedWindowLimiter:
        rule = RateLimit("login-ip", self.max_attempts_per_ip, self.window_s)
        return FixedWindowLimiter(redis, keys, clock, rule)

    def _per_email(self, redis: aioredis.Redis, keys: Keys, clock: Clock) -> FixedWindowLimiter:
        rule = RateLimit("login-email", self.max_failures_per_email, self.window_s)
        return FixedWindowLimiter(redis, keys, clock, rule)

    async def admit(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        clock: Clock,
        *,
        client_ip: str | None,
        email: str,
    ) -> None:
        """Count this attempt against the address; raise RateLimited when either window is
        exhausted."""
        if client_ip:
            await self._per_ip(redis, keys, clock).consume(client_ip)
        await self._per_email(redis, keys, clock).ensure_allowed(_email_subject(email))

    async def record_failure(
        self, redis: aioredis.Redis, keys: Keys, clock: Clock, *, email: str
    ) -> None:
        await self._per_email(redis, keys, clock).hit(_email_subject(email))


DEFAULT_LOGIN_THROTTLE = LoginThrottle()
