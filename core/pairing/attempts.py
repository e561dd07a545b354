"""Wrong claim-code attempts: rate-limited per client address and written to the audit log.

Only failures count (unknown or malformed codes, a wrong device secret, a code already
used), so a player that polls patiently is never locked out by its own polling. The audit
row is written in the same transaction as whatever else the attempt changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.identity.actor import Actor
from core.security.rate_limit import FixedWindowLimiter, RateLimit

WRONG_CODE_LIMIT = RateLimit(name="claim-failures", limit=10, window_s=900)
CREATE_CLAIM_LIMIT = RateLimit(name="claim-create", limit=30, window_s=600)
UNKNOWN_ADDRESS = "unknown"


def wrong_code_limiter(services: Services) -> FixedWindowLimiter:
    return FixedWindowLimiter(services.redis, services.keys, services.clock, WRONG_CODE_LIMIT)


def create_claim_limiter(services: Services) -> FixedWindowLimiter:
    return FixedWindowLimiter(services.redis, services.keys, services.clock, CREATE_CLAIM_LIMIT)


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
