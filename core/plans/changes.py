"""The "plan inputs changed" hook every programming and fleet mutation calls.

It lives with the plans (the outbox, the triggers) rather than with any one domain: content,
fleet, playlists, campaigns and schedules all call it, and none imports another for it.

Why in the caller's transaction: the change is recorded in the plan-change outbox
(`core.plans.outbox`) by the same COMMIT that makes it, so it can never be lost, whatever
happens to Redis or the workers afterwards. Why the hand-off after COMMIT: a planner woken
before the change is durable would read the old rows and cache a stale plan. The Redis
channel only informs live listeners (the console, tests) of what kind of thing changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson
import structlog

from core.bootstrap import Services
from core.db.enums import PlanChangeKind
from core.db.uow import UnitOfWork
from core.plans import outbox
from core.plans.triggers import hand_off
from core.redis_client import Keys

log = structlog.get_logger(__name__)

CHANNEL = "plan-inputs"


def plan_inputs_channel(keys: Keys) -> str:
    return keys.channel(CHANNEL)


async def notify_plan_inputs_changed(
    uow: UnitOfWork, services: Services, kind: PlanChangeKind, ids: Sequence[uuid.UUID]
) -> int | None:
    """Record the change in `uow`'s transaction; once it commits, hand it to the planning
    workers and publish `{"kind", "ids"}` on the plan-inputs channel. Returns
    the outbox id (None when `ids` is empty: nothing changed)."""
    if not ids:
        return None
    change_id = await outbox.record(uow.conn, kind, ids, services.clock.now())
    message = orjson.dumps({"kind": kind.value, "ids": sorted({str(i) for i in ids})})
    channel = plan_inputs_channel(services.keys)

    async def publish() -> None:
        await hand_off(change_id)  # never raises: the outbox keeps the change
        await services.redis.publish(channel, message)

    uow.after_commit(publish)
    return change_id
