"""Convergence: is each device running its desired plan, with every content version it needs?

The rule (docs/convergence.md), from the device's desired plan (the stored plan's ETag and its
content versions), the plan ETag it reported last and the content it reported cached and
failed (NULL for players that never report them):

1. no desired plan yet                                   -> PENDING
2. a content version of the desired plan reported failed -> FAILED
3. reported ETag is not the desired one                  -> PENDING
4. cache reported and some plan version not in it        -> DOWNLOADING
5. otherwise                                             -> IN_SYNC

FAILED comes before PENDING on purpose: a player that downloads a new plan's content before
switching to it still reports the old ETag, and its failures are what an operator must see.

The state lives on the device row and the players' content reports in
`device_content_reports`, so a heartbeat of a player that reports no content costs nothing
but a few comparisons. The state is recomputed by the statements that change its inputs,
set-based:
- the heartbeat statement (core.devices.heartbeat), for the reports it writes. It takes the
  desired ETag from the device row it locks, so it never judges against an older plan than
  the last refresh wrote; it reads the stored report only for devices flagged
  `reports_content`, the plan's versions only when the player reports content, and only
  when the stored plan still is the desired one (else it keeps the state, which the pending
  refresh recomputes);
- `refresh_sync_states`, after each regeneration batch has COMMITTED: every device of the
  batch whose desired ETag differs from its stored plan's gets the new ETag and its state
  recomputed, in one statement. Not inside the plan transaction: that one is REPEATABLE
  READ, and rewriting device rows that heartbeats update every minute would fail it with
  serialization errors nearly every time. A refresh lost to a crash between the two is
  caught by the next regeneration of the device (at the latest the daily horizon roll):
  the statement looks at every device of the batch, not only the rewritten plans.
`sync_state_since` moves only when the state changes, to the statement's (injected) now.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core.bootstrap import Services
from core.db.enums import SyncState
from core.devices.sync_events import SyncStateEvent, publish_sync_events

MAX_ATTEMPTS = 3
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure

# What a player may report at most in one heartbeat (the edge enforces them).
MAX_CACHED_CONTENT = 500
MAX_FAILED_CONTENT = 50
MAX_FAILURE_TEXT = 200

# The plan's required versions, derived from plan_json by the plan upsert (and by the
# migration that added the column): distinct "<content_id>:<version>" keys, sorted.
PLAN_CONTENT_KEYS_SQL = """ARRAY(
    SELECT DISTINCT (item ->> 'content_id') || ':' || (item ->> 'version')
    FROM jsonb_array_elements({plan_json} -> 'items') AS item
    ORDER BY 1
)"""


def content_key(content_id: uuid.UUID, version: int) -> str:
    """How a content version is named in plans' `content_versions` and in the reports:
    a plan item's `content_id` and `version`, as the player sees them."""
    return f"{content_id}:{version}"


def parse_content_key(key: str) -> tuple[uuid.UUID, int] | None:
    content_id, _, version = key.rpartition(":")
    try:
        return uuid.UUID(content_id), int(version)
    except ValueError:
        return None


def sync_state_sql(
    *, desired: str, reported: str, cached: str, failed: str, required: str, unknown: str
) -> str:
    """The rule as one SQL expression over the given SQL expressions. `required` is a query
    of one text[] column (the plan's keys); it runs only for players that report content,
    and when it finds no row the state is `unknown` (an expression: the current state)."""
    return f"""CASE
    WHEN {desired} IS NULL THEN '{SyncState.PENDING.value}'
    WHEN {cached} IS NULL AND {failed} IS NULL THEN
        CASE WHEN {reported} IS NOT DISTINCT FROM {desired}
             THEN '{SyncState.IN_SYNC.value}' ELSE '{SyncState.PENDING.value}' END
    ELSE COALESCE((
        SELECT CASE
            WHEN {failed} ?| plan_keys.keys THEN '{SyncState.FAILED.value}'
            WHEN {reported} IS DISTINCT FROM {desired} THEN '{SyncState.PENDING.value}'
            WHEN {cached} IS NULL OR {cached} ?& plan_keys.keys THEN '{SyncState.IN_SYNC.value}'
            ELSE '{SyncState.DOWNLOADING.value}'
        END
        FROM ({required}) AS plan_keys(keys)
    ), {unknown})
END"""  # noqa: S608 - composed by our own statements from constants, never from input


_REFRESH_RULE = sync_state_sql(
    desired="pp.etag",
    reported="d.reported_plan_etag",
    cached="r.cached_content",
    failed="r.failed_content",
    required="SELECT pp.content_versions",
    unknown="d.sync_state",
)

_REFRESH = sa.text(
    f"""
WITH target AS (
    SELECT d.id, d.sync_state AS previous_sync_state, pp.etag,
           {_REFRESH_RULE} AS sync_state
    FROM devices AS d JOIN playout_plans AS pp ON pp.device_id = d.id
    LEFT JOIN device_content_reports AS r ON r.device_id = d.id
    WHERE d.id = ANY(CAST(:device_ids AS uuid[]))
      AND d.status <> 'decommissioned'
      AND d.desired_plan_etag IS DISTINCT FROM pp.etag
    ORDER BY d.id
    -- The plan row too: a refresh that waited for a concurrent one judges against the plan
    -- committed last, never the older one its snapshot saw.
    FOR UPDATE OF d FOR KEY SHARE OF pp
)
UPDATE devices AS d SET
    desired_plan_etag = t.etag,
    sync_state = t.sync_state,
    sync_state_since = CASE WHEN t.sync_state = t.previous_sync_state
                            THEN d.sync_state_since ELSE :now END
FROM target AS t
WHERE d.id = t.id
RETURNING d.id, d.store_id, d.group_id, d.reported_plan_etag, t.etag AS desired_plan_etag,
          t.previous_sync_state, t.sync_state
"""  # noqa: S608 - composed from constants, never from input
)


def changed_events(rows: Iterable[Mapping[Any, Any]], now: datetime) -> list[SyncStateEvent]:
    """Events for the returned rows (id, store_id, group_id, previous_sync_state,
    sync_state, desired_plan_etag, reported_plan_etag) whose state changed."""
    return [
        SyncStateEvent(
            device_id=row["id"],
            store_id=row["store_id"],
            group_id=row["group_id"],
            sync_state=SyncState(row["sync_state"]),
            previous_sync_state=SyncState(row["previous_sync_state"]),
            since=now,
            desired_plan_etag=row["desired_plan_etag"],
            reported_plan_etag=row["reported_plan_etag"],
        )
        for row in rows
        if row["sync_state"] != row["previous_sync_state"]
    ]


async def refresh_sync_states(
    services: Services, device_ids: Sequence[uuid.UUID]
) -> list[SyncStateEvent]:
    """After plans were committed: point the devices at their stored plan and recompute
    their state (one statement), then publish the changes, which it returns. Safe to
    repeat: a device already pointing at its stored plan is not touched."""
    if not device_ids:
        return []
    now = services.clock.now()
    params = {"device_ids": list(device_ids), "now": now}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with services.engine.begin() as conn:
                result = await conn.execute(_REFRESH, params)
                events = changed_events(result.mappings(), now)
        except DBAPIError as exc:
            # Devices are locked in id order here and by heartbeats; another writer (the
            # offline sweep) may not, and PostgreSQL breaks such a cycle: just run it again.
            state = getattr(exc.orig, "sqlstate", None)
            if attempt == MAX_ATTEMPTS or state not in RETRYABLE_SQLSTATES:
                raise
            continue
        await publish_sync_events(services.redis, services.keys, events)
        return events
    raise AssertionError("unreachable")
