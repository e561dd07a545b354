"""The device's proof-of-play upload, as one use case.

Why here and not in the edge route: the batch-size check, the per-device quota, the unit of
work and the commit are the rules of an upload, whatever transport brings it (the REST edge
today, a live channel later). The route only authenticates, reads the body and translates.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

from core.bootstrap import Services
from core.devices.heartbeat import DeviceNotActive
from core.metrics import POP_EVENTS
from core.proof_of_play.ingest import ensure_batch_size, ingest_events, load_device_context
from core.proof_of_play.models import IngestPolicy, IngestResult
from core.proof_of_play.validation import ShapedBatch
from core.security.rate_limit import FixedWindowLimiter, RateLimit


async def take_upload_quota(services: Services, device_id: uuid.UUID, count: int) -> None:
    """Count the batch against the device's quota (POP_DEVICE_EVENTS_PER_MINUTE) before any
    database work: one atomic INCRBY; RateLimited (429 + Retry-After) when over."""
    if count == 0:
        return
    rule = RateLimit("pop-events", services.settings.pop_device_events_per_minute, 60)
    limiter = FixedWindowLimiter(services.redis, services.keys, services.clock, rule)
    await limiter.consume(str(device_id), count)


async def record_device_plays(
    services: Services, device_id: uuid.UUID, raw_events: Sequence[object] | ShapedBatch
) -> IngestResult:
    """Store a device's batch of plays: size and quota first (before a connection is taken),
    then one transaction that validates, inserts and aggregates, committed once. The result
    is returned only after COMMIT, so an answer built from it means the plays are durable."""
    policy = IngestPolicy.from_settings(services.settings)
    ensure_batch_size(len(raw_events), policy)
    await take_upload_quota(services, device_id, len(raw_events))
    async with services.uow() as uow:
        context = await load_device_context(uow.conn, device_id)
        if context is None:
            raise DeviceNotActive("this device no longer exists")
        result = await ingest_events(
            uow.conn, context, raw_events, clock=services.clock, policy=policy
        )
        await uow.commit()
    count_outcomes(result)
    return result


def count_outcomes(result: IngestResult) -> None:
    """`signage_pop_events_total`, once the batch is durable."""
    if result.accepted:
        POP_EVENTS.labels("accepted", "").inc(result.accepted)
    if result.duplicates:
        POP_EVENTS.labels("duplicate", "").inc(result.duplicates)
    for reason, count in Counter(error.code.value for error in result.errors).items():
        POP_EVENTS.labels("rejected", reason).inc(count)
