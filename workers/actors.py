"""Actor registry: importing this module registers every actor on the configured broker.

`dramatiq workers.actors` runs them. Actors are thin: they take ids, call a core service, and
are idempotent because delivery is at-least-once.
"""

from __future__ import annotations

import dramatiq

import workers.broker  # noqa: F401 - the broker must be set before actors are declared
from workers import (
    plans,  # noqa: F401 - registers the planning actors
    proof_of_play,  # noqa: F401 - registers maintain_pop_partitions
)
from workers.monitoring import sweep_devices  # noqa: F401 - registers the monitoring sweep
from workers.runtime import services


@dramatiq.actor(queue_name="maintenance", max_retries=3, time_limit=60_000)
async def heartbeat_self_check() -> None:
    """A no-op round trip through PostgreSQL and Redis, scheduled to prove the worker lives."""
    svc = await services()
    await svc.redis.set(svc.keys.key("worker", "last_self_check"), svc.clock.now().isoformat())
