"""The "plan inputs changed" hook every programming mutation calls.

Why after COMMIT: a planner woken before the change is durable would read the old rows and
cache a stale plan. Why a Redis channel: the planning workers (issue 5) own the reaction;
this side only announces what kind of thing changed and which ids, so the message stays
valid however the planner decides to fan out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson
import redis.asyncio as aioredis

from core.db.uow import UnitOfWork
from core.plans.triggers import plan_inputs_changed
from core.redis_client import Keys

CHANNEL = "plan-inputs"


def plan_inputs_channel(keys: Keys) -> str:
    return keys.channel(CHANNEL)


def notify_plan_inputs_changed(
    uow: UnitOfWork,
    kind: str,
    ids: Sequence[uuid.UUID],
    *,
    redis: aioredis.Redis,
    keys: Keys,
) -> None:
    """Publish `{"kind", "ids"}` on the plan-inputs channel once `uow` has committed."""
    id_strings = sorted({str(i) for i in ids})
    message = orjson.dumps({"kind": kind, "ids": id_strings})
    channel = plan_inputs_channel(keys)

    async def publish() -> None:
        # The durable hand-off first: a Dramatiq message waits for a worker, a pub/sub
        # message reaches only whoever listens right now.
        await plan_inputs_changed(kind, id_strings)
        await redis.publish(channel, message)

    uow.after_commit(publish)
