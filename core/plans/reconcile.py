"""Periodic plan reconciliation: the safety net under the plan-change outbox.

Why: the outbox makes every recorded change reach the workers, but a plan can still go stale
in ways no change announces: an announcer that forgot a kind, a bug in `affected_devices`,
a restore from backup, a Redis that lost the ETags the edge answers from. So, independently
of any change, every device's plan is periodically recomputed from its current inputs:
`core.plans.service.regenerate` is idempotent (an unchanged plan is not rewritten) and
re-publishes every device's current ETag to Redis, which also rebuilds lost ETags.

The fleet is walked in slices in device-id order, PLAN_RECONCILE_DEVICES per run, one run
every PLAN_RECONCILE_EVERY_S; the cursor lives in Redis (losing it restarts the walk, which
is harmless). So a stale plan heals within ceil(devices / PLAN_RECONCILE_DEVICES) runs: with
the defaults (20,000 devices every 120 s), within 2 minutes for fleets up to 20,000 devices
and 50 minutes at 500,000. Regeneration folds devices with identical inputs, so a slice
costs mostly its set-based input loading (about 0.1 s per 1,000 devices here).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.bootstrap import Services
from core.db.enums import DeviceStatus
from core.db.tables import devices
from core.plans.loader import native


async def next_slice(conn: AsyncConnection, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """The next `limit` devices with a plan to keep (not decommissioned) after `after`."""
    stmt = (
        sa.select(devices.c.id)
        .where(devices.c.status != DeviceStatus.DECOMMISSIONED.value)
        .order_by(devices.c.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(devices.c.id > after)
    return [native(value) for value in (await conn.execute(stmt)).scalars()]


CURSOR_TTL_S = 7 * 24 * 3600


async def take_slice(services: Services) -> tuple[list[uuid.UUID], bool]:
    """The next slice of the walk and whether it ends the walk. The cursor moves before the
    work: a slice that keeps failing must not stop the walk; at the end it starts over."""
    cursor_key = services.keys.key("plans", "reconcile", "cursor")
    after = _cursor(await services.redis.get(cursor_key))
    limit = services.settings.plan_reconcile_devices
    async with services.engine.connect() as conn:
        device_ids = await next_slice(conn, after, limit)
    complete = len(device_ids) < limit
    next_cursor = "" if complete or not device_ids else str(device_ids[-1])
    await services.redis.set(cursor_key, next_cursor, ex=CURSOR_TTL_S)
    return device_ids, complete


def _cursor(raw: object) -> uuid.UUID | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    if not text or not isinstance(text, str):
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
