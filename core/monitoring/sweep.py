"""The periodic monitoring sweep: set-based, so 100,000 devices cost a handful of statements.

One transaction, in this order:
1. mark stale online devices offline and record their transitions (one statement: an UPDATE
   ... RETURNING feeding an INSERT through a data-modifying CTE);
2. work out which stores are open now: one row per distinct (timezone, hours) pair comes
   back from PostgreSQL, Python judges each pair once (DST rules live in one place,
   `core.monitoring.hours`), and the open store ids go back as one array parameter,
   tested through a hash (`device_facts`);
3. resolve every unresolved incident whose condition no longer holds (UPDATE ... RETURNING);
4. open an incident for every device and rule whose condition holds (INSERT ... SELECT ...
   ON CONFLICT DO NOTHING against the partial unique index, so at most one stays open).
Events are published after COMMIT, a few Redis commands for thousands of events
(`core.redis_client.publish_all`). docs/monitoring.md has the measurements behind these
choices. A transaction-scoped advisory lock makes concurrent
sweeps (a duplicate enqueue, a redelivery) skip instead of racing; every step is idempotent
anyway, so running the sweep twice changes nothing the second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.bootstrap import Services
from core.db.enums import DeviceStatus, IncidentStatus
from core.db.tables import device_status_transitions, devices, incidents, stores
from core.errors import ValidationFailed
from core.events_bus import EventBus
from core.monitoring.events import IncidentEventKind, publish_after_commit
from core.monitoring.hours import OperatingHours, is_open, parse_operating_hours, zone
from core.monitoring.json_sql import seconds
from core.monitoring.models import Incident, StatusChange, SweepResult
from core.monitoring.rules import (
    NOW,
    Thresholds,
    device_facts,
    resolution_reason,
    rules,
    stale_online_devices,
)

log = structlog.get_logger(__name__)

# pg_try_advisory_xact_lock key: "monitor" sweep, an arbitrary 63-bit constant.
SWEEP_LOCK_KEY = 0x6D6F6E69746F72
OFFLINE_REASON = "heartbeat_timeout"
_DATA_EXCEPTION = "22"  # SQLSTATE class: invalid datetime format, field out of range...


async def mark_stale_devices_offline(conn: AsyncConnection, now: datetime) -> list[StatusChange]:
    stale = stale_online_devices()
    # The staleness test is repeated on the target row itself, so a heartbeat committed
    # while this statement waits for the row lock is re-checked (EvalPlanQual) and wins.
    went_offline = (
        sa.update(devices)
        .where(
            devices.c.id == stale.c.id,
            devices.c.status == DeviceStatus.ONLINE.value,
            devices.c.last_seen_at < NOW - seconds(stale.c.offline_threshold_s),
        )
        .values(status=DeviceStatus.OFFLINE.value, status_changed_at=NOW, updated_at=NOW)
        .returning(devices.c.id, devices.c.store_id, devices.c.group_id, devices.c.last_seen_at)
        .cte("went_offline")
    )
    transitions = (
        sa.insert(device_status_transitions)
        .from_select(
            ["device_id", "from_status", "to_status", "reason", "at"],
            sa.select(
                went_offline.c.id,
                sa.literal(DeviceStatus.ONLINE.value, sa.Text),
                sa.literal(DeviceStatus.OFFLINE.value, sa.Text),
                sa.literal(OFFLINE_REASON, sa.Text),
                NOW,
            ),
        )
        .cte("transitions")
    )
    statement = sa.select(went_offline).add_cte(transitions)
    rows = (await conn.execute(statement, {"now": now})).all()
    return [
        StatusChange(
            device_id=row.id,
            store_id=row.store_id,
            group_id=row.group_id,
            status=DeviceStatus.OFFLINE,
            previous_status=DeviceStatus.ONLINE,
            last_seen_at=row.last_seen_at,
        )
        for row in rows
    ]


@lru_cache(maxsize=4096)
def _hours(canonical_json: bytes) -> OperatingHours:
    return parse_operating_hours(orjson.loads(canonical_json))


async def open_store_ids(conn: AsyncConnection, now: datetime) -> list[uuid.UUID]:
    """Stores open at `now`. A store with unknown timezone or invalid hours counts as closed
    (and is logged): a broken row must not page anyone, nor stop the sweep."""
    rows = await conn.execute(
        sa.select(
            stores.c.timezone,
            stores.c.operating_hours_json,
            sa.func.array_agg(stores.c.id).label("ids"),
        ).group_by(stores.c.timezone, stores.c.operating_hours_json)
    )
    open_ids: list[uuid.UUID] = []
    for row in rows:
        hours_doc: Any = row.operating_hours_json
        if not hours_doc:
            continue
        try:
            hours = _hours(orjson.dumps(hours_doc, option=orjson.OPT_SORT_KEYS))
            if is_open(hours, zone(row.timezone), now):
                open_ids.extend(row.ids)
        except ValidationFailed as exc:
            log.warning(
                "stores with invalid hours or timezone count as closed",
                timezone=row.timezone,
                error=exc.message,
                store_ids=[str(i) for i in row.ids[:20]],
            )
    return open_ids


async def resolve_cleared_incidents(
    conn: AsyncConnection,
    now: datetime,
    open_ids: list[uuid.UUID],
    thresholds: Thresholds,
    *,
    safe_times: bool = False,
) -> list[Incident]:
    facts = device_facts()
    rule_list = rules(facts.c, thresholds, safe_times=safe_times)
    holds = sa.case(
        *[(incidents.c.type == rule.type.value, rule.holds) for rule in rule_list],
        else_=sa.true(),  # a type without a rule is only resolved by people
    )
    resolution = sa.func.jsonb_build_object(
        "resolution",
        sa.func.jsonb_build_object(
            "by", "auto", "reason", resolution_reason(facts.c, incidents.c.type), "at", NOW
        ),
    )
    statement = (
        sa.update(incidents)
        .where(
            incidents.c.device_id == facts.c.id,
            incidents.c.resolved_at.is_(None),
            sa.not_(holds),
        )
        .values(
            status=IncidentStatus.RESOLVED.value,
            resolved_at=NOW,
            updated_at=NOW,
            details_json=incidents.c.details_json.op("||")(resolution),
        )
        .returning(*incidents.c)
    )
    rows = await conn.execute(statement, {"now": now, "open_store_ids": open_ids})
    return [Incident.from_row(row) for row in rows]


async def open_new_incidents(
    conn: AsyncConnection,
    now: datetime,
    open_ids: list[uuid.UUID],
    thresholds: Thresholds,
    *,
    safe_times: bool = False,
) -> list[Incident]:
    facts = device_facts()
    rule_list = rules(facts.c, thresholds, safe_times=safe_times)
    # Most devices are healthy: narrow to the few that match any rule, then fan out per rule.
    # Details are built per rule from the narrowed rows, so each rule's (sometimes costly)
    # details are computed only for the devices that rule opens for.
    candidates = (
        sa.select(
            *facts.c,
            *[rule.opens.label(f"opens_{i}") for i, rule in enumerate(rule_list)],
        )
        .where(sa.or_(*[rule.opens for rule in rule_list]))
        .cte("candidates")
    )
    on_candidates = rules(candidates.c, thresholds, safe_times=safe_times)
    per_rule = [
        sa.select(
            candidates.c.id,
            candidates.c.store_id,
            sa.literal(rule.type.value, sa.Text),
            sa.literal(rule.severity.value, sa.Text),
            sa.literal(IncidentStatus.OPEN.value, sa.Text),
            rule.details,
            NOW,
            NOW,
        ).where(candidates.c[f"opens_{i}"])
        for i, rule in enumerate(on_candidates)
    ]
    statement = (
        pg_insert(incidents)
        .from_select(
            [
                "device_id",
                "store_id",
                "type",
                "severity",
                "status",
                "details_json",
                "created_at",
                "updated_at",
            ],
            sa.union_all(*per_rule),
        )
        .on_conflict_do_nothing(
            index_elements=[incidents.c.device_id, incidents.c.type],
            index_where=incidents.c.resolved_at.is_(None),
        )
        .returning(*incidents.c)
    )
    rows = await conn.execute(statement, {"now": now, "open_store_ids": open_ids})
    return [Incident.from_row(row) for row in rows]


T = TypeVar("T")


async def tune_transaction(conn: AsyncConnection) -> None:
    """No JIT for the sweep's statements: their estimated cost crosses the JIT thresholds,
    and LLVM compilation then takes longer (about a second) than running them (a few
    hundred milliseconds). SET LOCAL ends with the transaction."""
    await conn.execute(sa.text("SET LOCAL jit = off"))


async def _fast_then_safe(
    conn: AsyncConnection, step: Callable[[bool], Awaitable[T]], name: str
) -> T:
    """Run a rule statement with fast timestamp casts inside a savepoint; if a device row
    holds a time PostgreSQL cannot read (only possible for rows not written by the edge),
    roll back to the savepoint and run it again with the slower, never-failing parser."""
    try:
        async with conn.begin_nested():
            return await step(False)
    except DBAPIError as exc:
        if not str(getattr(exc.orig, "sqlstate", "") or "").startswith(_DATA_EXCEPTION):
            raise
        log.warning(
            "unreadable telemetry times; using the safe parser", step=name, error=str(exc.orig)
        )
        return await step(True)


async def run_sweep(
    services: Services, *, now: datetime | None = None, thresholds: Thresholds | None = None
) -> SweepResult:
    """One sweep at `now` (default: the services' clock). Safe to run any number of times."""
    at = now or services.clock.now()
    limits = thresholds or Thresholds()
    bus = EventBus(services.redis, services.keys)
    async with services.uow() as uow:
        conn = uow.conn
        locked = await conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SWEEP_LOCK_KEY)))
        if not locked:
            log.info("another sweep is running; skipping")
            return SweepResult(ran=False)
        await tune_transaction(conn)
        went_offline = await mark_stale_devices_offline(conn, at)
        open_ids = await open_store_ids(conn, at)
        resolved = await _fast_then_safe(
            conn,
            lambda safe: resolve_cleared_incidents(conn, at, open_ids, limits, safe_times=safe),
            "resolve",
        )
        opened = await _fast_then_safe(
            conn,
            lambda safe: open_new_incidents(conn, at, open_ids, limits, safe_times=safe),
            "open",
        )
        publish_after_commit(
            uow,
            bus,
            status_changes=went_offline,
            incidents=[(IncidentEventKind.RESOLVED, i) for i in resolved]
            + [(IncidentEventKind.OPENED, i) for i in opened],
        )
        await uow.commit()
    if went_offline or opened or resolved:
        log.info(
            "monitoring sweep",
            went_offline=len(went_offline),
            opened=len(opened),
            resolved=len(resolved),
        )
    return SweepResult(
        ran=True,
        went_offline=went_offline,
        opened=opened,
        resolved=resolved,
        open_store_count=len(open_ids),
    )
