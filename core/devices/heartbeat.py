"""The heartbeat: the hottest write in the system (one per device per interval).

Design for ~8,300/s across edge processes:
- ONE autocommit statement for a whole batch of devices (`write_heartbeats`; the edge's
  `HeartbeatWriter` coalesces concurrent heartbeats of a process into such batches): a CTE
  locks the rows (in id order, so concurrent batches cannot deadlock each other) to read the
  previous status, the UPDATE writes last_seen and the telemetry, transition rows are inserted
  only where the status changed, and each group's heartbeat interval comes back in the same
  round trip.
- Large JSON values are only replaced when they differ (`IS DISTINCT FROM`), so an
  unchanged device_info keeps its TOAST pointer instead of being rewritten, and
  `updated_at` moves only when the device's description or status changed, not telemetry.
- Durable commit: a 2xx means the heartbeat, and any status transition it caused, is on
  disk. Because heartbeats are coalesced, that is one WAL flush per batch, not per
  heartbeat. Asynchronous commit measured only 1-2 points better (31% against 29-30% of
  bare Starlette, `bench/heartbeat.py`), and it would have let a PostgreSQL crash lose
  heartbeats that had been acknowledged.
- The plan ETags come from Redis in one MGET (the planning workers keep them there), never
  from PostgreSQL.
- A status event is published only when the status changed, one pipeline per batch.
- The device's sync state (core.devices.sync_state) is judged in the same statement, from
  the reported plan ETag and content; only players that report content cost lookups (their
  stored report, their plan's versions) and, when the report changed, a write to
  `device_content_reports`. Changes come back in RETURNING and are published on
  `device-sync`, one command per batch.
"""

from __future__ import annotations

import re
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs; used on the hot path only
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.bootstrap import Services
from core.db.enums import DeviceStatus
from core.devices.credentials import TokenRevoked
from core.devices.status_events import DeviceStatusEvent, publish_status_events
from core.devices.sync_events import publish_sync_events
from core.devices.sync_state import changed_events, sync_state_sql
from core.errors import Unauthenticated
from core.redis_client import Keys

DEFAULT_HEARTBEAT_INTERVAL_S = 60
MIN_HEARTBEAT_INTERVAL_S = 10
MAX_HEARTBEAT_INTERVAL_S = 3600


class DeviceNotActive(Unauthenticated):
    code = "device_not_active"


@dataclass(frozen=True)
class HeartbeatReport:
    disk_used_bytes: int
    now_playing: dict[str, Any] | None
    plan_etag: str | None
    last_error: str | None
    counters: dict[str, int]
    device_info: dict[str, Any] | None = None
    # The epoch of the access token that carried the report: when given, the statement
    # itself checks it against `devices.token_epoch` (authoritative, no cache involved).
    token_epoch: int | None = None
    # Content versions by `core.devices.sync_state.content_key`: the ones the player holds,
    # and the ones whose download failed with why. None: not in this heartbeat, the stored
    # report stands (players that never send them are judged by their plan ETag alone).
    cached_content: Sequence[str] | None = None
    failed_content: dict[str, dict[str, Any]] | None = None  # {key: {"error", "at"}}


@dataclass(frozen=True)
class HeartbeatAck:
    server_time: datetime
    plan_etag: str | None
    plan_changed: bool
    heartbeat_interval_s: int
    status_changed: bool


# Every plan rolls at least daily, which rewrites the key; the TTL only bounds a stale key.
PLAN_ETAG_TTL_S = 2 * 24 * 3600


def plan_etag_key(keys: Keys, device_id: uuid.UUID) -> str:
    """Where the planning workers keep each device's current plan ETag."""
    return keys.key("device", str(device_id), "plan_etag")


# The sync state as the heartbeat judges it (core.devices.sync_state): against the desired
# ETag of the row it locks, with this report's content where sent, else the stored one.
_SYNC_RULE = sync_state_sql(
    desired="d.desired_plan_etag",
    reported="i.plan_etag",
    cached="COALESCE(i.cached_content, stored.cached_content)",
    failed="COALESCE(i.failed_content, stored.failed_content)",
    required=(
        "SELECT pp.content_versions FROM playout_plans AS pp "
        "WHERE pp.device_id = d.id AND pp.etag = d.desired_plan_etag"
    ),
    unknown="d.sync_state",
)

_HEARTBEAT_SQL_NAMED = f"""
WITH input AS (
    SELECT t.*, t.cached_text::jsonb AS cached_content, t.failed_text::jsonb AS failed_content
    FROM unnest(
        CAST(:device_ids AS uuid[]),
        CAST(:disk_used_bytes AS bigint[]),
        CAST(:now_playing AS text[]),
        CAST(:last_errors AS text[]),
        CAST(:counters AS text[]),
        CAST(:plan_etags AS text[]),
        CAST(:device_infos AS text[]),
        CAST(:player_versions AS text[]),
        CAST(:token_epochs AS integer[]),
        CAST(:cached_content AS text[]),
        CAST(:failed_content AS text[])
    ) AS t(device_id, disk_used_bytes, now_playing, last_error, counters, plan_etag,
           device_info, player_version, token_epoch, cached_text, failed_text)
), prev AS (
    SELECT d.id, d.status, d.sync_state AS previous_sync_state,
           {_SYNC_RULE} AS sync_state,
           stored.cached_content AS stored_cached, stored.failed_content AS stored_failed
    FROM devices AS d JOIN input AS i ON i.device_id = d.id
    -- The stored report, looked up only for players that ever sent one (OFFSET 0 keeps the
    -- subquery apart, so the flag gates the lookup instead of filtering after it).
    LEFT JOIN LATERAL (
        SELECT r.cached_content, r.failed_content FROM device_content_reports AS r
        WHERE d.reports_content AND r.device_id = d.id
        OFFSET 0
    ) AS stored ON true
    WHERE d.status <> 'decommissioned'
      AND (i.token_epoch IS NULL OR i.token_epoch = d.token_epoch)
    ORDER BY d.id
    FOR UPDATE OF d
), changed AS (
    UPDATE devices AS d SET
        last_seen_at = :now,
        status = 'online',
        status_changed_at = CASE WHEN prev.status = 'online'
                                 THEN d.status_changed_at ELSE :now END,
        disk_used_bytes = i.disk_used_bytes,
        now_playing_json = CASE WHEN d.now_playing_json IS DISTINCT FROM i.now_playing::jsonb
                                THEN i.now_playing::jsonb ELSE d.now_playing_json END,
        last_error = i.last_error,
        counters_json = CASE WHEN d.counters_json IS DISTINCT FROM i.counters::jsonb
                             THEN i.counters::jsonb ELSE d.counters_json END,
        reported_plan_etag = i.plan_etag,
        device_info_json = CASE WHEN i.device_info IS NOT NULL
                                 AND d.device_info_json IS DISTINCT FROM i.device_info::jsonb
                                THEN i.device_info::jsonb ELSE d.device_info_json END,
        player_version = COALESCE(i.player_version, d.player_version),
        reports_content = d.reports_content
                          OR i.cached_content IS NOT NULL OR i.failed_content IS NOT NULL,
        sync_state = prev.sync_state,
        sync_state_since = CASE WHEN prev.sync_state = prev.previous_sync_state
                                THEN d.sync_state_since ELSE :now END,
        updated_at = CASE WHEN prev.status <> 'online'
                            OR (i.device_info IS NOT NULL
                                AND d.device_info_json IS DISTINCT FROM i.device_info::jsonb)
                          THEN :now ELSE d.updated_at END
    FROM prev JOIN input AS i ON i.device_id = prev.id
    WHERE d.id = prev.id
    RETURNING d.id, d.store_id, d.group_id, prev.status AS previous_status,
              prev.previous_sync_state, prev.sync_state, d.desired_plan_etag,
              d.reported_plan_etag
), transition AS (
    INSERT INTO device_status_transitions (device_id, from_status, to_status, reason, at)
    SELECT id, previous_status, 'online', 'heartbeat', :now FROM changed
    WHERE previous_status <> 'online'
), report AS (
    -- Only reports that differ from the stored one are written (an unchanged one, sent
    -- again, costs no write); a part left out keeps its stored value.
    INSERT INTO device_content_reports AS r
        (device_id, cached_content, failed_content, updated_at)
    SELECT prev.id, i.cached_content, i.failed_content, :now
    FROM prev JOIN input AS i ON i.device_id = prev.id
    WHERE (i.cached_content IS NOT NULL AND prev.stored_cached IS DISTINCT FROM i.cached_content)
       OR (i.failed_content IS NOT NULL AND prev.stored_failed IS DISTINCT FROM i.failed_content)
    ORDER BY prev.id
    ON CONFLICT (device_id) DO UPDATE SET
        cached_content = COALESCE(EXCLUDED.cached_content, r.cached_content),
        failed_content = COALESCE(EXCLUDED.failed_content, r.failed_content),
        updated_at = EXCLUDED.updated_at
)
SELECT c.id, c.store_id, c.group_id, c.previous_status, c.previous_sync_state, c.sync_state,
       c.desired_plan_etag, c.reported_plan_etag,
       CASE WHEN jsonb_typeof(g.policy_json -> 'heartbeat_interval_s') = 'number'
            THEN (g.policy_json ->> 'heartbeat_interval_s')::numeric END AS interval_s
FROM changed AS c LEFT JOIN device_groups AS g ON g.id = c.group_id
"""  # noqa: S608 - composed from constants, never from input


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders to asyncpg's `$n` (`::type` casts are left alone)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<!:):([a-z_]+)", number, sql), tuple(names)


_HEARTBEAT_SQL, _HEARTBEAT_PARAMS = _positional(_HEARTBEAT_SQL_NAMED)
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
MAX_ATTEMPTS = 3


def _interval(policy_value: Decimal | None) -> int:
    """The group's interval (a JSON number, clamped to sane bounds), else the default."""
    if policy_value is None or policy_value != policy_value.to_integral_value():
        return DEFAULT_HEARTBEAT_INTERVAL_S
    seconds = int(policy_value)
    return min(max(seconds, MIN_HEARTBEAT_INTERVAL_S), MAX_HEARTBEAT_INTERVAL_S)


_AUTOCOMMIT: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    """A view of the engine (same pool) whose connections never open a transaction block:
    the heartbeat is one atomic statement, so BEGIN/COMMIT would only add round trips.
    Cached: building the view costs more than a heartbeat's Python work."""
    view = _AUTOCOMMIT.get(engine)
    if view is None:
        view = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return view


def _params(batch: Sequence[tuple[uuid.UUID, HeartbeatReport]]) -> dict[str, Any]:
    def json_text(value: Any) -> str:
        return orjson.dumps(value).decode()

    def version(report: HeartbeatReport) -> str | None:
        value = (report.device_info or {}).get("player_version")
        return value if isinstance(value, str) else None

    reports = [report for _, report in batch]
    return {
        "device_ids": [device_id for device_id, _ in batch],
        "disk_used_bytes": [r.disk_used_bytes for r in reports],
        "now_playing": [json_text(r.now_playing) for r in reports],
        "last_errors": [r.last_error for r in reports],
        "counters": [json_text(r.counters) for r in reports],
        "plan_etags": [r.plan_etag for r in reports],
        "device_infos": [
            None if r.device_info is None else json_text(r.device_info) for r in reports
        ],
        "player_versions": [version(r) for r in reports],
        "token_epochs": [r.token_epoch for r in reports],
        # Objects keyed by content key, so the statement finds a plan's keys in them by
        # binary search (`?&`, `?|`) instead of scanning an array per key.
        "cached_content": [
            None if r.cached_content is None else json_text(dict.fromkeys(r.cached_content, True))
            for r in reports
        ],
        "failed_content": [
            None if r.failed_content is None else json_text(r.failed_content) for r in reports
        ],
    }


async def telemetry_connection(services: Services) -> AsyncConnection:
    """A pooled autocommit connection, kept by the writer across batches (each batch then
    skips the pool checkout). Give it back with `release_telemetry_connection`."""
    return await _autocommit(services.engine).connect()


async def release_telemetry_connection(conn: AsyncConnection) -> None:
    await conn.close()


async def telemetry_connection_closed(conn: AsyncConnection) -> bool:
    """Whether the server (a restart, a failover, `pg_terminate_backend`) or the network has
    closed a kept connection: asyncpg knows it from the end of the stream, so this costs no
    round trip. The pool's checkout hook (core.db.engine) makes the same check, but a
    connection the writer keeps is not checked out again."""
    return bool((await _driver(conn)).is_closed())


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under a pooled SQLAlchemy one."""
    return (await conn.get_raw_connection()).driver_connection


async def _fetch(conn: AsyncConnection, args: list[Any]) -> list[asyncpg.Record]:
    """Straight through the asyncpg driver of a pooled connection: this statement runs for
    every batch, and SQLAlchemy's per-execution work would cost more than the encoding.
    asyncpg keeps it prepared per connection."""
    driver = await _driver(conn)
    return list(await driver.fetch(_HEARTBEAT_SQL, *args))


async def _execute(
    services: Services, params: dict[str, Any], conn: AsyncConnection | None
) -> list[asyncpg.Record]:
    """Run the statement; retry if PostgreSQL broke a lock cycle (e.g. with the offline sweep)."""
    args = [params[name] for name in _HEARTBEAT_PARAMS]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if conn is not None:
                return await _fetch(conn, args)
            async with _autocommit(services.engine).connect() as own:
                return await _fetch(own, args)
        except asyncpg.PostgresError as exc:
            if attempt == MAX_ATTEMPTS or exc.sqlstate not in RETRYABLE_SQLSTATES:
                raise
    raise AssertionError("unreachable")


async def write_heartbeats(
    services: Services,
    batch: Sequence[tuple[uuid.UUID, HeartbeatReport]],
    *,
    conn: AsyncConnection | None = None,
) -> dict[uuid.UUID, HeartbeatAck]:
    """Record heartbeats of DISTINCT devices: one statement, one MGET, one publish pipeline.

    `conn`, if given, must be a `telemetry_connection`. Devices that are missing or
    decommissioned, or whose report carries a stale token epoch, are absent from the answer.
    """
    if not batch:
        return {}
    now = services.clock.now()
    params = _params(batch) | {"now": now}
    rows = {row["id"]: row for row in await _execute(services, params, conn)}
    etag_keys = [plan_etag_key(services.keys, device_id) for device_id, _ in batch]
    etags = await services.redis.mget(etag_keys)
    events: list[DeviceStatusEvent] = []
    acks: dict[uuid.UUID, HeartbeatAck] = {}
    rebuilt: dict[str, str] = {}
    for (device_id, report), raw_etag in zip(batch, etags, strict=True):
        row = rows.get(device_id)
        if row is None:
            continue
        plan_etag = raw_etag.decode() if isinstance(raw_etag, bytes) else raw_etag
        if plan_etag is None and row["desired_plan_etag"] is not None:
            # Redis lost the cached ETag (restarted empty, evicted): PostgreSQL still knows
            # the stored plan's, and the statement returned it; cache it again.
            plan_etag = row["desired_plan_etag"]
            rebuilt[plan_etag_key(services.keys, device_id)] = plan_etag
        changed = row["previous_status"] != DeviceStatus.ONLINE.value
        if changed:
            events.append(
                DeviceStatusEvent(
                    device_id=device_id,
                    store_id=row["store_id"],
                    group_id=row["group_id"],
                    status=DeviceStatus.ONLINE.value,
                    previous_status=row["previous_status"],
                    last_seen_at=now,
                )
            )
        acks[device_id] = HeartbeatAck(
            server_time=now,
            plan_etag=plan_etag,
            plan_changed=plan_etag is not None and plan_etag != report.plan_etag,
            heartbeat_interval_s=_interval(row["interval_s"]),
            status_changed=changed,
        )
    if rebuilt:
        await _cache_etags(services, rebuilt)
    await publish_status_events(services.redis, services.keys, events)
    await publish_sync_events(services.redis, services.keys, changed_events(rows.values(), now))
    return acks


async def _cache_etags(services: Services, etags: dict[str, str]) -> None:
    """NX: a newer ETag the planners published meanwhile must win over the one read here."""
    async with services.redis.pipeline(transaction=False) as pipe:
        for key, etag in etags.items():
            pipe.set(key, etag, ex=PLAN_ETAG_TTL_S, nx=True)
        await pipe.execute()


async def record_heartbeat(
    services: Services, device_id: uuid.UUID, report: HeartbeatReport
) -> HeartbeatAck:
    """One heartbeat on its own (the edge coalesces them with `HeartbeatWriter`)."""
    ack = (await write_heartbeats(services, [(device_id, report)])).get(device_id)
    if ack is None:
        raise refused(report)
    return ack


def refused(report: HeartbeatReport) -> Unauthenticated:
    """Why a heartbeat left no row: its token is stale, or (unchecked) the device is gone."""
    if report.token_epoch is not None:
        return TokenRevoked("this device's tokens were revoked")
    return DeviceNotActive("device is not active")
