"""Monthly partitions of the raw event log: created ahead of time, dropped after retention.

Partition `proof_of_play_events_pYYYYMM` holds device times in [first of the month, first of
the next month) UTC. Maintenance keeps every month from the one containing the retention
cutoff to `months_ahead` months after the current one, so normal traffic never reaches the
DEFAULT partition. If it did (the worker was down for months, or a fresh database got late
events), creating the month moves those rows out of DEFAULT in the same transaction:
PostgreSQL refuses to create a partition whose range still has rows in DEFAULT.

Dropping removes whole partitions whose every possible row is older than the retention
cutoff, which is instant compared with deleting millions of rows. Aggregates are kept: they
are the durable record advertisers are billed from. Rows in DEFAULT past the cutoff are
deleted so that the safety net does not keep data beyond retention.

The same pass prunes what integrity keeps beside the raw log: event ids
(`proof_of_play_event_keys`) whose device time is past the retention cutoff, exactly like the
rows they stand for (an event that old is refused at ingest anyway, because backdating is
capped by retention, so a pruned id can never be accepted a second time), and play grants no
acceptable event can need any more (`core.proof_of_play.grants.prune_grants`).

Both run under a transaction-scoped advisory lock, so overlapping runs (at-least-once worker
delivery) wait for each other instead of racing on the same DDL. When there is DDL to do they
first lock the parent table, which is the lock ingestion takes first too: ingestion pauses for
the few milliseconds of the DDL (longer only while stranded DEFAULT rows are moved), and the
two can never deadlock by taking the parent and a partition in opposite orders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.bootstrap import Services
from core.clock import Clock
from core.db.tables import proof_of_play_events
from core.proof_of_play.grants import prune_grants
from core.proof_of_play.models import DEFAULT_MAX_BACKDATE_DAYS

PARENT = "proof_of_play_events"
DEFAULT_PARTITION = "proof_of_play_events_default"
_NAME = re.compile(r"^proof_of_play_events_p(\d{4})(\d{2})$")
_LOCK_KEY = 0x706F7031  # "pop1": the advisory lock of partition maintenance


@dataclass
class MaintenanceReport:
    created: list[str] = field(default_factory=list)
    moved_rows: int = 0
    dropped: list[str] = field(default_factory=list)
    deleted_default_rows: int = 0
    deleted_event_keys: int = 0
    pruned_grants: int = 0


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month.year:04d}{month.month:02d}"


def _bound(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def retention_cutoff(clock: Clock, retention_days: int) -> datetime:
    """Raw events older than this are outside retention (and refused at ingest)."""
    return clock.now() - timedelta(days=retention_days)


async def existing_partitions(conn: AsyncConnection) -> dict[date, str]:
    """The monthly partitions attached to the parent, by month."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = :parent AND p.relnamespace = to_regnamespace(current_schema())"
        ),
        {"parent": PARENT},
    )
    found: dict[date, str] = {}
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            found[date(int(match[1]), int(match[2]), 1)] = name
    return found


async def _lock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


async def _lock_parent(conn: AsyncConnection) -> None:
    """Hold off ingestion (and anything landing in DEFAULT) for the DDL that follows."""
    await conn.execute(text(f"LOCK TABLE ONLY {PARENT} IN ACCESS EXCLUSIVE MODE"))


async def _create_month(conn: AsyncConnection, month: date) -> int:
    """Create one month's partition; returns how many rows were moved out of DEFAULT."""
    name = partition_name(month)
    lower, upper = _bound(month), _bound(add_months(month, 1))
    bounds = {"lower": lower, "upper": upper}
    stranded = (
        await conn.execute(
            text(
                f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} "  # noqa: S608 - constants
                "WHERE device_time_ts >= :lower AND device_time_ts < :upper)"
            ),
            bounds,
        )
    ).scalar_one()
    # Bounds are literals in DDL (no bind parameters there); they come from dates, not input.
    range_sql = f"FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
    if not stranded:
        await conn.execute(
            text(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES {range_sql}")
        )
        return 0
    await conn.execute(
        text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    columns = ", ".join(proof_of_play_events.c.keys())
    moved = await conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608 - constants
            f"WHERE device_time_ts >= :lower AND device_time_ts < :upper RETURNING {columns}) "
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved"
        ),
        bounds,
    )
    await conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES {range_sql}"))
    return int(moved.rowcount or 0)


async def ensure_partitions(
    conn: AsyncConnection, clock: Clock, *, retention_days: int, months_ahead: int = 3
) -> MaintenanceReport:
    """Create the missing monthly partitions from the retention cutoff to `months_ahead`."""
    await _lock(conn)
    report = MaintenanceReport()
    existing = await existing_partitions(conn)
    first = month_start(retention_cutoff(clock, retention_days).date())
    last = add_months(month_start(clock.now().date()), months_ahead)
    missing: list[date] = []
    month = first
    while month <= last:
        if month not in existing:
            missing.append(month)
        month = add_months(month, 1)
    if missing:
        await _lock_parent(conn)
    for month in missing:
        report.moved_rows += await _create_month(conn, month)
        report.created.append(partition_name(month))
    return report


async def drop_expired_partitions(
    conn: AsyncConnection, clock: Clock, *, retention_days: int
) -> MaintenanceReport:
    """Drop partitions entirely older than retention; aggregates are left untouched."""
    await _lock(conn)
    report = MaintenanceReport()
    cutoff = retention_cutoff(clock, retention_days)
    existing = sorted((await existing_partitions(conn)).items())
    expired = [name for month, name in existing if _bound(add_months(month, 1)) <= cutoff]
    if expired:
        await _lock_parent(conn)
    for name in expired:
        await conn.execute(text(f"DROP TABLE {name}"))
        report.dropped.append(name)
    deleted = await conn.execute(
        text(f"DELETE FROM {DEFAULT_PARTITION} WHERE device_time_ts < :cutoff"),  # noqa: S608
        {"cutoff": cutoff},
    )
    report.deleted_default_rows = int(deleted.rowcount or 0)
    keys = await conn.execute(
        text("DELETE FROM proof_of_play_event_keys WHERE device_time_ts < :cutoff"),
        {"cutoff": cutoff},
    )
    report.deleted_event_keys = int(keys.rowcount or 0)
    return report


async def run_partition_maintenance(
    services: Services, *, months_ahead: int = 3
) -> MaintenanceReport:
    """One maintenance pass in its own transaction, with retention from the settings."""
    settings = services.settings
    async with services.uow() as uow:
        report = await maintain_partitions(
            uow.conn,
            services.clock,
            retention_days=settings.pop_retention_days,
            months_ahead=months_ahead,
            backdate_days=min(settings.pop_max_backdate_days, settings.pop_retention_days),
        )
        await uow.commit()
    return report


async def maintain_partitions(
    conn: AsyncConnection,
    clock: Clock,
    *,
    retention_days: int,
    months_ahead: int = 3,
    backdate_days: int = DEFAULT_MAX_BACKDATE_DAYS,
) -> MaintenanceReport:
    """The periodic job: drop what expired, then prepare what is coming."""
    dropped = await drop_expired_partitions(conn, clock, retention_days=retention_days)
    created = await ensure_partitions(
        conn, clock, retention_days=retention_days, months_ahead=months_ahead
    )
    created.dropped = dropped.dropped
    created.deleted_default_rows = dropped.deleted_default_rows
    created.deleted_event_keys = dropped.deleted_event_keys
    created.pruned_grants = await prune_grants(conn, clock.now(), backdate_days)
    return created
