"""Plan regeneration and retrieval: `playout_plans` rows and the per-device ETag cache.

Regeneration works on batches of devices (BATCH_SIZE per transaction). Each batch:
1. loads inputs set-based and folds devices with identical inputs (`loader`);
2. runs the engine once per distinct inputs hash (`PlanComputer`);
3. upserts the whole batch with ONE statement, writing only rows whose plan changed, and
   records what each device may now report plays of (`core.proof_of_play.grants`, one
   statement more; nothing is written for a device whose plan items did not change);
4. after COMMIT, writes every device's current ETag to Redis in one pipeline, and points
   the devices at their new plan for convergence (`core.devices.sync_state`, one statement:
   a changed plan makes an in-sync device PENDING until it reports the new ETag).

Why REPEATABLE READ: the four loader queries must see one snapshot (never new schedules with
old playlists), and a batch that read its inputs before a newer batch committed a plan for
the same device must not overwrite that newer plan: PostgreSQL refuses the late upsert with a
serialization failure, and the batch is retried on fresh data.

Why Redis: the device edge answers `If-None-Match` and heartbeats from the cached ETag
without touching PostgreSQL. The cache is written after COMMIT, so it never announces a plan
that could still roll back; a full plan fetch re-writes it, so a lost write heals itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.bootstrap import Services
from core.db.tables import playout_plans
from core.devices.heartbeat import PLAN_ETAG_TTL_S, plan_etag_key
from core.devices.sync_state import PLAN_CONTENT_KEYS_SQL, refresh_sync_states
from core.errors import NotFound
from core.plans.computer import ComputedPlan, PlanComputer, decode_plan, default_computer
from core.plans.loader import load_plan_inputs, native
from core.proof_of_play.grants import GrantSet, grant_set, record_grants
from core.scheduling import Horizon, horizon_for
from core.scheduling.horizon import LOOKAHEAD

log = structlog.get_logger(__name__)

BATCH_SIZE = 1000
MAX_ATTEMPTS = 5
# serialization_failure, deadlock_detected, foreign_key_violation (device deleted meanwhile)
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "23503"})

_UPSERT = sa.text(
    f"""
WITH parsed AS MATERIALIZED (
    SELECT p.idx, p.inputs_hash, p.etag, CAST(p.body AS jsonb) AS plan_json
    FROM unnest(CAST(:hashes AS text[]), CAST(:etags AS text[]), CAST(:bodies AS text[]))
         WITH ORDINALITY AS p(inputs_hash, etag, body, idx)
), plans AS MATERIALIZED (
    SELECT parsed.*, {PLAN_CONTENT_KEYS_SQL.format(plan_json="parsed.plan_json")} AS versions
    FROM parsed
)
INSERT INTO playout_plans AS pp
    (device_id, inputs_hash, etag, plan_json, content_versions, valid_from, valid_to,
     generated_at)
SELECT t.device_id, plans.inputs_hash, plans.etag, plans.plan_json, plans.versions,
       :valid_from, :valid_to, :generated_at
FROM unnest(CAST(:device_ids AS uuid[]), CAST(:plan_idx AS bigint[])) AS t(device_id, idx)
JOIN plans ON plans.idx = t.idx
LEFT JOIN playout_plans AS current ON current.device_id = t.device_id
WHERE current.device_id IS NULL
   OR current.etag IS DISTINCT FROM plans.etag
   OR current.inputs_hash IS DISTINCT FROM plans.inputs_hash
ORDER BY t.device_id
ON CONFLICT (device_id) DO UPDATE SET
    inputs_hash = EXCLUDED.inputs_hash,
    etag = EXCLUDED.etag,
    plan_json = EXCLUDED.plan_json,
    content_versions = EXCLUDED.content_versions,
    valid_from = EXCLUDED.valid_from,
    valid_to = EXCLUDED.valid_to,
    generated_at = EXCLUDED.generated_at
WHERE pp.etag IS DISTINCT FROM EXCLUDED.etag
   OR pp.inputs_hash IS DISTINCT FROM EXCLUDED.inputs_hash
RETURNING pp.device_id
"""  # noqa: S608 - composed from constants, never from input
)

# One command per distinct ETag instead of one SET per device: 1,000 SETs through a
# pipeline cost ~40 ms of client-side packing, one EVAL with 1,000 keys a fraction of that.
# (All keys of one deployment live on one Redis; with Redis Cluster this would need slots.)
_SET_ETAGS = """
for i = 1, #KEYS do
    redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[2])
end
return #KEYS
"""


@dataclass
class RegenerateReport:
    devices: int = 0  # active devices a plan was computed for
    written: int = 0  # rows inserted or changed (unchanged plans are not rewritten)
    distinct_inputs: int = 0  # summed over batches
    batches: int = 0
    plans: dict[uuid.UUID, ComputedPlan] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPlan:
    device_id: uuid.UUID
    inputs_hash: str
    etag: str
    plan: ComputedPlan
    valid_from: datetime
    valid_to: datetime
    generated_at: datetime


def chunked(values: Sequence[uuid.UUID], size: int) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A REPEATABLE READ transaction; the caller commits."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


def _retryable(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state in _RETRYABLE_SQLSTATES


async def write_plans(
    conn: AsyncConnection,
    assignments: dict[uuid.UUID, ComputedPlan],
    *,
    horizon: Horizon,
    generated_at: datetime,
) -> int:
    """Upsert one batch in one statement; each distinct plan body is sent once. The plans'
    grants are recorded in the same transaction, so a device never holds a plan whose plays
    it could not report."""
    if not assignments:
        return 0
    grants: dict[str, GrantSet] = {}
    index: dict[str, int] = {}
    hashes: list[str] = []
    etags: list[str] = []
    bodies: list[str] = []
    device_ids: list[uuid.UUID] = []
    plan_idx: list[int] = []
    for device_id in sorted(assignments):
        computed = assignments[device_id]
        position = index.get(computed.inputs_hash)
        if position is None:
            hashes.append(computed.inputs_hash)
            etags.append(computed.etag)
            bodies.append(computed.body_text)
            position = index[computed.inputs_hash] = len(hashes)  # ORDINALITY is 1-based
            grants[computed.inputs_hash] = grant_set(computed.plan)
        device_ids.append(device_id)
        plan_idx.append(position)
    result = await conn.execute(
        _UPSERT,
        {
            "hashes": hashes,
            "etags": etags,
            "bodies": bodies,
            "device_ids": device_ids,
            "plan_idx": plan_idx,
            "valid_from": horizon.start,
            "valid_to": horizon.end,
            "generated_at": generated_at,
        },
    )
    written = len(result.all())
    await record_grants(
        conn, {d: grants[c.inputs_hash] for d, c in assignments.items()}, generated_at
    )
    return written


async def publish_etags(services: Services, etags: dict[uuid.UUID, str]) -> None:
    """Current ETag per device, for the edge's 304s and the heartbeat's `plan_changed`."""
    by_etag: dict[str, list[str]] = {}
    for device_id, etag in etags.items():
        by_etag.setdefault(etag, []).append(plan_etag_key(services.keys, device_id))
    if not by_etag:
        return
    async with services.redis.pipeline(transaction=False) as pipe:
        for etag, keys in by_etag.items():
            for start in range(0, len(keys), BATCH_SIZE):
                chunk = keys[start : start + BATCH_SIZE]
                pipe.eval(_SET_ETAGS, len(chunk), *chunk, etag, PLAN_ETAG_TTL_S)
        await pipe.execute()


async def _regenerate_batch(
    services: Services,
    device_ids: Sequence[uuid.UUID],
    computer: PlanComputer,
    report: RegenerateReport,
) -> dict[uuid.UUID, ComputedPlan]:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        now = services.clock.now()
        horizon = horizon_for(now)
        try:
            async with snapshot(services.engine) as conn:
                shared = await load_plan_inputs(conn, device_ids, horizon)
                assignments: dict[uuid.UUID, ComputedPlan] = {}
                for entry in shared:
                    computed = computer.compute(entry.inputs)
                    for device_id in entry.device_ids:
                        assignments[device_id] = computed
                written = await write_plans(conn, assignments, horizon=horizon, generated_at=now)
        except DBAPIError as exc:
            if attempt == MAX_ATTEMPTS or not _retryable(exc):
                raise
            log.info("plan batch retried", attempt=attempt, devices=len(device_ids))
            continue
        report.devices += len(assignments)
        report.written += written
        report.distinct_inputs += len({c.inputs_hash for c in assignments.values()})
        report.batches += 1
        return assignments
    raise AssertionError("unreachable")


async def regenerate(
    services: Services,
    device_ids: Iterable[uuid.UUID],
    *,
    computer: PlanComputer | None = None,
    batch_size: int = BATCH_SIZE,
) -> RegenerateReport:
    """Recompute and store the plans of `device_ids` (unknown and decommissioned ids are
    skipped). Idempotent: unchanged plans are neither rewritten nor given a new ETag."""
    computer = computer or default_computer()
    report = RegenerateReport()
    for chunk in chunked(sorted(set(device_ids)), batch_size):
        assignments = await _regenerate_batch(services, chunk, computer, report)
        await publish_etags(services, {d: p.etag for d, p in assignments.items()})
        await refresh_sync_states(services, list(assignments))
        report.plans.update(assignments)
    return report


async def stored_plan(conn: AsyncConnection, device_id: uuid.UUID) -> StoredPlan | None:
    row = (
        await conn.execute(sa.select(playout_plans).where(playout_plans.c.device_id == device_id))
    ).one_or_none()
    if row is None:
        return None
    computed = ComputedPlan.from_stored(
        inputs_hash=row.inputs_hash,
        etag=row.etag,
        plan=decode_plan(row.plan_json),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
    )
    return StoredPlan(
        device_id=native(row.device_id),
        inputs_hash=row.inputs_hash,
        etag=row.etag,
        plan=computed,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        generated_at=row.generated_at,
    )


def covers_lookahead(valid_to: datetime, now: datetime) -> bool:
    """A stored plan is served as long as it still covers the next 72 hours."""
    return valid_to - now >= LOOKAHEAD


async def get_plan(
    services: Services, device_id: uuid.UUID, *, computer: PlanComputer | None = None
) -> ComputedPlan:
    """The plan the device should run: the stored one while it covers the next 72 h,
    otherwise (none yet, or a missed roll) one generated on demand and stored."""
    async with services.engine.connect() as conn:
        stored = await stored_plan(conn, device_id)
    if stored is not None and covers_lookahead(stored.valid_to, services.clock.now()):
        await publish_etags(services, {device_id: stored.etag})
        return stored.plan
    report = await regenerate(services, [device_id], computer=computer)
    computed = report.plans.get(device_id)
    if computed is None:
        raise NotFound("device not found or decommissioned", field="device_id")
    return computed


async def cached_etag(services: Services, device_id: uuid.UUID) -> str | None:
    """The device's current plan ETag from Redis (no PostgreSQL), or None if unknown."""
    value = await services.redis.get(plan_etag_key(services.keys, device_id))
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
