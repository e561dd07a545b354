"""The periodic monitoring sweep: set-based, so 100,000 devices cost a handful of statements.

One transaction, in this order:
1. mark stale online devices offline and record their transitions (one statement: an UPDATE
   ... RETURNING feeding an INSERT through a data-modifying CTE);
2. work out which stores are open now: one row per distinct (timezone, hours) pair comes
   back from PostgreSQL, Python judges each pair once (DST rules live in one place,
   `core.fleet.opening_hours`), and the open store ids go back as one array parameter,
   tested through a hash (`device_facts`);
3. resolve every unresolved incident whose condition no longer holds (UPDATE ... RETURNING);
4. open an incident for every device and rule whose condition holds (INSERT ... SELECT ...
   ON CONFLICT DO NOTHING against the partial unique index, so at most one stays open).
Events are published after COMMIT, a few Redis commands for thousands of events
(`core.redis_client.publish_all`). docs/monitoring.md has the measurements behind these
choices. A transaction-scoped advisory lock makes concurrent
sweeps (a duplicate enqueue, a redelivery) skip instead of racing; every step is idempotent
anyway, so running the sweep twice changes nothing the second time.

One device cannot stop the sweep for the fleet. The rules' SQL is total over anything a
device row can hold (`core.monitoring.rules`), and steps 3 and 4 run inside savepoints: if a
statement fails anyway on what it read (a data exception, a value Python cannot decode), it
is retried with the never-failing time parser, then rule by rule, and a rule that still
fails is judged over halves of the fleet (primary-key ranges) until the devices it cannot
judge stand alone (`core.isolating`). Those devices are skipped for that rule only, logged
once per sweep, and every other device and rule is judged as usual. The happy path is the
same two statements as before; the extra statements are only paid after a failure. A
failure that is not about the data (PostgreSQL out of reach, a bug in the statement) still
fails the sweep: the next one is the retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.backends import backend_unavailable
from core.bootstrap import Services
from core.db.enums import DeviceStatus, IncidentStatus, IncidentType
from core.db.tables import device_status_transitions, devices, incidents, stores
from core.errors import ValidationFailed
from core.events_bus import EventBus
from core.fleet.opening_hours import OperatingHours, is_open, parse_operating_hours
from core.isolating import isolate_failures
from core.monitoring.events import IncidentEventKind, publish_after_commit
from core.monitoring.json_sql import seconds
from core.monitoring.models import Incident, StatusChange, SweepResult
from core.monitoring.rules import (
    NOW,
    SEVERITY,
    Rule,
    Thresholds,
    device_facts,
    resolution_reason,
    rules,
    stale_online_devices,
)
from core.timezones import zone

log = structlog.get_logger(__name__)

# pg_try_advisory_xact_lock key: "monitor" sweep, an arbitrary 63-bit constant.
SWEEP_LOCK_KEY = 0x6D6F6E69746F72
OFFLINE_REASON = "heartbeat_timeout"
_DATA_EXCEPTION = "22"  # SQLSTATE class: invalid datetime format, field out of range...
# SQLSTATE classes a device's stored values can raise: data exception, integrity violation
# (the device went away meanwhile), program limit exceeded (a JSON value too large).
_DATA_CLASSES = frozenset({_DATA_EXCEPTION, "23", "54"})
# Statements one rule may spend finding the devices it cannot judge: ~2 x log2(fleet) per
# such device, so about six bad devices in 100,000. Past that the failure is hardly about a
# few devices; the devices still unjudged are skipped for that rule in this sweep.
MAX_ISOLATING_STATEMENTS = 200
MAX_LOGGED_SKIPS = 100  # per sweep; more are counted in one line


@dataclass(frozen=True)
class RuleScope:
    """What one rule statement judges: normally every rule over every device; after a
    failure, a narrower scope (`_judge`)."""

    safe_times: bool = False  # parse reported times with the never-failing jsonpath parser
    types: frozenset[IncidentType] | None = None  # None: every rule
    devices: tuple[uuid.UUID, uuid.UUID] | None = None  # first and last id, inclusive

    def facts(self) -> sa.Subquery:
        return device_facts(device_range=self.devices is not None)

    def rules(self, c: Any, thresholds: Thresholds) -> list[Rule]:
        every = rules(c, thresholds, safe_times=self.safe_times)
        return [rule for rule in every if self.types is None or rule.type in self.types]

    def params(self) -> dict[str, Any]:
        if self.devices is None:
            return {}
        return {"first_device_id": self.devices[0], "last_device_id": self.devices[1]}


EVERYTHING = RuleScope()


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
    scope: RuleScope = EVERYTHING,
) -> list[Incident]:
    facts = scope.facts()
    rule_list = scope.rules(facts.c, thresholds)
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
    params = {"now": now, "open_store_ids": open_ids, **scope.params()}
    rows = await conn.execute(statement, params)
    return [Incident.from_row(row) for row in rows]


async def open_new_incidents(
    conn: AsyncConnection,
    now: datetime,
    open_ids: list[uuid.UUID],
    thresholds: Thresholds,
    *,
    scope: RuleScope = EVERYTHING,
) -> list[Incident]:
    facts = scope.facts()
    rule_list = scope.rules(facts.c, thresholds)
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
    on_candidates = scope.rules(candidates.c, thresholds)
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
    params = {"now": now, "open_store_ids": open_ids, **scope.params()}
    rows = await conn.execute(statement, params)
    return [Incident.from_row(row) for row in rows]


async def tune_transaction(conn: AsyncConnection) -> None:
    """No JIT for the sweep's statements: their estimated cost crosses the JIT thresholds,
    and LLVM compilation then takes longer (about a second) than running them (a few
    hundred milliseconds). SET LOCAL ends with the transaction."""
    await conn.execute(sa.text("SET LOCAL jit = off"))


Judge = Callable[[RuleScope], Awaitable[list[Incident]]]
# Devices a rule could not judge in this sweep: {device id: {incident type: why}}.
Skipped = dict[uuid.UUID, dict[str, str]]


def _sqlstate(exc: DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", "") or "")


def _about_the_data(exc: Exception) -> bool:
    """Could the values of some rows have caused this? A data exception or integrity
    violation in PostgreSQL, or a stored value Python cannot decode (ValueError); not a
    backend out of reach, nor an error in the statement itself."""
    if backend_unavailable(exc):
        return False
    if isinstance(exc, DBAPIError):
        return _sqlstate(exc)[:2] in _DATA_CLASSES
    return isinstance(exc, ValueError)


def _why(exc: BaseException) -> str:
    """SQLSTATE and error class, never the message: it may quote the stored value."""
    if isinstance(exc, DBAPIError):
        cause = exc.orig.__cause__ if exc.orig is not None else None
        return f"{_sqlstate(exc)} {type(cause or exc.orig).__name__}"
    return type(exc).__name__


async def _in_savepoint(conn: AsyncConnection, judge: Judge, scope: RuleScope) -> list[Incident]:
    async with conn.begin_nested():
        return await judge(scope)


async def _judge(
    conn: AsyncConnection, judge: Judge, step: str, skipped: Skipped
) -> list[Incident]:
    """Run a rule statement over the fleet, narrowing it after a failure (see the module
    docstring): each attempt in a savepoint, so a failed one leaves nothing behind.

    1. every rule, fast timestamp casts (the normal sweep: one statement);
    2. every rule, the slower never-failing time parser (a row holds a time PostgreSQL cannot
       read: only possible for rows not written by the edge);
    3. each rule apart; a rule that still fails is judged over halves of the fleet until the
       devices it cannot judge stand alone, and those are skipped for that rule."""
    try:
        return await _in_savepoint(conn, judge, EVERYTHING)
    except Exception as exc:
        if not _about_the_data(exc):
            raise
        log.warning(
            "a monitoring statement failed on stored telemetry; using the safe time parser",
            step=step,
            error=_why(exc),
        )
    safe = RuleScope(safe_times=True)
    try:
        return await _in_savepoint(conn, judge, safe)
    except Exception as exc:
        if not _about_the_data(exc):
            raise
        log.warning("a monitoring rule failed for the fleet; judging each rule apart", step=step)
    judged: list[Incident] = []
    ids: list[uuid.UUID] | None = None
    for kind in SEVERITY:  # every rule's incident type
        scope = replace(safe, types=frozenset({kind}))
        try:
            judged += await _in_savepoint(conn, judge, scope)
            continue
        except Exception as exc:
            if not _about_the_data(exc):
                raise
            failure = exc
        if ids is None:  # only now: the happy path never reads the fleet's ids
            ids = list(await conn.scalars(sa.select(devices.c.id).order_by(devices.c.id)))
        judged += await _judge_devices_apart(conn, judge, scope, ids, failure, skipped)
    return judged


async def _judge_devices_apart(
    conn: AsyncConnection,
    judge: Judge,
    scope: RuleScope,
    ids: list[uuid.UUID],
    failure: Exception,
    skipped: Skipped,
) -> list[Incident]:
    """One rule over ranges of the fleet (ids sorted as PostgreSQL sorts them, so a slice of
    them is a primary-key range), halving the ranges that fail."""

    async def over(part: Sequence[uuid.UUID]) -> list[Incident]:
        return await _in_savepoint(conn, judge, replace(scope, devices=(part[0], part[-1])))

    judged: list[Incident] = []
    async for outcome in isolate_failures(
        ids,
        over,
        failure,
        splittable=_about_the_data,
        max_attempts=MAX_ISOLATING_STATEMENTS,
    ):
        if outcome.error is None:
            judged += outcome.result or []
            continue
        if not _about_the_data(outcome.error):
            raise outcome.error
        for kind in scope.types or ():
            for device_id in outcome.items:
                skipped.setdefault(device_id, {})[kind.value] = _why(outcome.error)
    return judged


def _log_skipped(skipped: Skipped) -> None:
    """Once per sweep and device: which rules could not judge it, and the error's SQLSTATE."""
    for device_id, why in list(skipped.items())[:MAX_LOGGED_SKIPS]:
        log.warning(
            "monitoring skipped rules it cannot evaluate for a device",
            device_id=str(device_id),
            rules=sorted(why),
            errors=sorted(set(why.values())),
        )
    if len(skipped) > MAX_LOGGED_SKIPS:
        log.warning(
            "monitoring skipped rules for more devices", count=len(skipped) - MAX_LOGGED_SKIPS
        )


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
        skipped: Skipped = {}
        resolved = await _judge(
            conn,
            lambda scope: resolve_cleared_incidents(conn, at, open_ids, limits, scope=scope),
            "resolve",
            skipped,
        )
        opened = await _judge(
            conn,
            lambda scope: open_new_incidents(conn, at, open_ids, limits, scope=scope),
            "open",
            skipped,
        )
        publish_after_commit(
            uow,
            bus,
            status_changes=went_offline,
            incidents=[(IncidentEventKind.RESOLVED, i) for i in resolved]
            + [(IncidentEventKind.OPENED, i) for i in opened],
        )
        await uow.commit()
    _log_skipped(skipped)
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
        skipped={device: tuple(sorted(why)) for device, why in skipped.items()},
    )
