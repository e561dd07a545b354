"""The plan-change outbox: a change to plan inputs is recorded in the transaction that makes it.

Why: a Dramatiq message sent after COMMIT is lost when Redis is unreachable at that moment,
or restarts empty before a worker takes it; a change lost that way used to stay invisible to
players until the next daily horizon roll. A row in `plan_changes` commits (or rolls back)
with the change itself, so it cannot be lost, and it stays "pending" until the workers have
regenerated every plan the change touches:

1. `record` inserts the change in the caller's unit of work (`UnitOfWork.conn`);
2. after COMMIT the process hands its id to the planning workers (a fast path: most changes
   reach players within a second or two);
3. the worker that applies it finds the affected devices and fans them out in batches;
   `start_dispatch` notes how many batches this dispatch has, and each batch, once its plans
   are stored, reports with `complete_batch`; the change is done when all have;
4. `claim_overdue` (the relay, run periodically by the scheduler) hands every change that
   is not done PLAN_OUTBOX_REDISPATCH_S after its last hand-off to the workers again.

Every step is idempotent: regenerating an unchanged plan writes nothing, a batch reported
twice is counted once (`batches_done` is a set of batch numbers), and each dispatch has a
generation (`dispatches`), so a late batch of an earlier dispatch never completes a newer one.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core.bootstrap import Services
from core.db.enums import PlanChangeKind
from core.db.tables import plan_changes
from core.metrics import PLAN_PROPAGATION_SECONDS
from core.plans.affected import affected_devices

# Done changes are kept this long (for operators reading the table), then purged.
RETENTION = timedelta(days=7)
RELAY_LIMIT = 1000  # changes handed on per relay run; the next run takes the rest


@dataclass(frozen=True)
class PlanChange:
    id: int
    kind: PlanChangeKind
    target_ids: tuple[uuid.UUID, ...]
    done: bool


async def record(
    conn: AsyncConnection, kind: PlanChangeKind, ids: Collection[uuid.UUID], at: datetime
) -> int:
    """Insert the change in the caller's transaction; returns its id."""
    result = await conn.execute(
        sa.insert(plan_changes)
        .values(kind=kind.value, target_ids=sorted(set(ids)), created_at=at)
        .returning(plan_changes.c.id)
    )
    return int(result.scalar_one())


async def load(conn: AsyncConnection, change_id: int) -> PlanChange | None:
    row = (
        await conn.execute(
            sa.select(
                plan_changes.c.id,
                plan_changes.c.kind,
                plan_changes.c.target_ids,
                plan_changes.c.done_at,
            ).where(plan_changes.c.id == change_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return PlanChange(
        id=int(row.id),
        kind=PlanChangeKind(row.kind),
        target_ids=tuple(uuid.UUID(str(v)) for v in row.target_ids),
        done=row.done_at is not None,
    )


async def start_dispatch(
    conn: AsyncConnection, change_id: int, batches: int, at: datetime
) -> int | None:
    """Begin a dispatch of `batches` regeneration batches; returns its generation, or None
    when the change is already done (or gone). A change reaching no device is done at once."""
    result = await conn.execute(
        sa.update(plan_changes)
        .where(plan_changes.c.id == change_id, plan_changes.c.done_at.is_(None))
        .values(
            dispatches=plan_changes.c.dispatches + 1,
            dispatched_at=at,
            batches_total=batches,
            batches_done=sa.text("'{}'::integer[]"),
            done_at=at if batches == 0 else None,
        )
        .returning(plan_changes.c.dispatches)
    )
    generation = result.scalar_one_or_none()
    return None if generation is None else int(generation)


_COMPLETE_BATCH = sa.text(
    """
UPDATE plan_changes AS pc
SET batches_done = merged.done,
    done_at = CASE WHEN cardinality(merged.done) >= pc.batches_total
                   THEN CAST(:at AS timestamptz) END
FROM (
    SELECT id, ARRAY(
        SELECT DISTINCT b FROM unnest(batches_done || CAST(:batch AS integer)) AS b ORDER BY b
    ) AS done
    FROM plan_changes WHERE id = :id
) AS merged
WHERE pc.id = merged.id AND pc.dispatches = :generation AND pc.done_at IS NULL
RETURNING pc.done_at, pc.created_at, pc.kind
"""
)


@dataclass(frozen=True)
class Completion:
    """A change all of whose batches are stored: what it was, and how long it took."""

    kind: str
    propagation: timedelta


async def _complete(
    conn: AsyncConnection, change_id: int, generation: int, batch: int, at: datetime
) -> Completion | None:
    row = (
        await conn.execute(
            _COMPLETE_BATCH, {"id": change_id, "generation": generation, "batch": batch, "at": at}
        )
    ).one_or_none()
    if row is None or row.done_at is None:
        return None
    return Completion(str(row.kind), row.done_at - row.created_at)


async def complete_batch(
    conn: AsyncConnection, change_id: int, generation: int, batch: int, at: datetime
) -> bool:
    """Record that `batch` of dispatch `generation` stored its plans; True if that made the
    change done. A batch of an older dispatch, or of a change already done, changes nothing."""
    return await _complete(conn, change_id, generation, batch, at) is not None


_CLAIM_OVERDUE = sa.text(
    """
UPDATE plan_changes AS pc
SET dispatched_at = :at
FROM (
    SELECT id FROM plan_changes
    WHERE done_at IS NULL AND COALESCE(dispatched_at, created_at) <= :overdue_before
    ORDER BY created_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
) AS overdue
WHERE pc.id = overdue.id
RETURNING pc.id
"""
)


async def claim_overdue(
    conn: AsyncConnection, now: datetime, redispatch_after: timedelta, limit: int = RELAY_LIMIT
) -> list[int]:
    """Changes not done `redispatch_after` after their last hand-off (or their creation),
    oldest first; their hand-off time is moved to `now`, so concurrent relays take disjoint
    sets and a change is handed on again only after another full wait."""
    rows = await conn.execute(
        _CLAIM_OVERDUE, {"at": now, "overdue_before": now - redispatch_after, "limit": limit}
    )
    return sorted(int(row.id) for row in rows)


async def purge_done(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(
        sa.delete(plan_changes).where(
            plan_changes.c.done_at.is_not(None), plan_changes.c.done_at < now - RETENTION
        )
    )
    return int(result.rowcount or 0)


async def pending_count(conn: AsyncConnection) -> int:
    """Changes recorded and not yet applied to every plan they touch."""
    result = await conn.execute(
        sa.select(sa.func.count()).select_from(plan_changes).where(plan_changes.c.done_at.is_(None))
    )
    return int(result.scalar_one())


# The use cases the planning workers run; each owns its transaction.


@dataclass(frozen=True)
class Dispatch:
    change: PlanChange
    device_ids: list[uuid.UUID]
    generation: int
    batches: list[list[uuid.UUID]]


async def begin_dispatch(services: Services, change_id: int, batch_size: int) -> Dispatch | None:
    """Find what a change touches and start a dispatch of it in batches of `batch_size`;
    None when there is nothing to do (done already: a duplicate delivery, a relay race, or
    purged)."""
    async with services.engine.begin() as conn:
        change = await load(conn, change_id)
        if change is None or change.done:
            return None
        device_ids = await affected_devices(conn, change.kind, change.target_ids)
        batches = [
            list(device_ids[i : i + batch_size]) for i in range(0, len(device_ids), batch_size)
        ]
        generation = await start_dispatch(conn, change.id, len(batches), services.clock.now())
    if generation is None:
        return None
    return Dispatch(change, device_ids, generation, batches)


async def finish_batch(services: Services, change_id: int, generation: int, batch: int) -> bool:
    """Record a stored batch (`complete_batch`) in a transaction of its own; True if that
    made the change done, which `signage_plan_propagation_seconds` then counts (the plans and
    ETags of every batch are published before its batch is recorded)."""
    async with services.engine.begin() as conn:
        completion = await _complete(conn, change_id, generation, batch, services.clock.now())
    if completion is None:
        return False
    seconds = max(completion.propagation.total_seconds(), 0.0)
    PLAN_PROPAGATION_SECONDS.labels(completion.kind).observe(seconds)
    return True


async def relay_overdue(services: Services) -> tuple[list[int], int]:
    """Claim the overdue changes (to hand on again) and purge old done ones: (ids, purged)."""
    now = services.clock.now()
    wait = timedelta(seconds=services.settings.plan_outbox_redispatch_s)
    async with services.engine.begin() as conn:
        overdue = await claim_overdue(conn, now, wait)
        purged = await purge_done(conn, now)
    return overdue, purged
