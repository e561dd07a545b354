"""The monitoring rules: when a device is offline and when each incident type opens and clears.

Every rule is a SQL boolean over one row of `device_facts()` (a device joined with its
group's effective policy), so the sweep judges thousands of devices per statement. The
rules read only what the latest heartbeat left on the device row (`last_seen_at`,
`disk_used_bytes`, `last_error`, `counters_json`, `now_playing_json`); a device that stops
sending heartbeats keeps its last telemetry, and its incidents stay as they were until it is
heard from again (or decommissioned, which clears everything). docs/monitoring.md describes
each rule for operators and player teams; keep the two in step.

Each rule has an `opens` condition and a `holds` condition. An incident opens when `opens`
is true and resolves automatically when `holds` becomes false. They differ only where
hysteresis stops flapping (LOW_STORAGE opens at 90% of the cap and clears below 85%).

JSON fields are read defensively (core.monitoring.json_sql): a value of the wrong type counts
as absent, and arithmetic on reported values is done where it cannot overflow (epoch seconds
in `numeric`, byte counts in `numeric`, policy values bounded), so no value a row can hold
makes a rule's statement fail: one device's telemetry must never stop the sweep for the
fleet. (Should a rule fail anyway, the sweep isolates the device it cannot judge.)

Cost matters: these expressions run for every device, and per-row JSON work dominates a
sweep. Cheap exact shortcuts settle the common healthy case first (a containment test for
quiet counters, a text comparison for recently started items), so only the rare rows pay
for key lookups and timestamp parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.sql.elements import ColumnElement

from core.db.enums import DeviceStatus, IncidentType, Severity
from core.db.tables import content_versions, device_groups, devices
from core.devices.heartbeat import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    MAX_HEARTBEAT_INTERVAL_S,
    MIN_HEARTBEAT_INTERVAL_S,
)
from core.inputs import INT64_MAX
from core.monitoring.json_sql import (
    clamped,
    epoch_seconds,
    get_text,
    instant_at,
    json_number,
    json_number_at_least,
    json_timestamptz,
    positive,
    seconds,
    within,
)

OFFLINE_AFTER_INTERVALS = 3
# A group's offline threshold is capped at a century: "never offline" for any purpose, and far
# inside what `now - interval` can compute (a policy of 1e20 s would abort the statement).
MAX_OFFLINE_THRESHOLD_S = 100 * 366 * 86_400


@dataclass(frozen=True)
class Thresholds:
    """Fleet-wide rule parameters; per-group values come from `device_groups.policy_json`."""

    low_storage_open_ratio: float = 0.90
    low_storage_clear_ratio: float = 0.85
    crash_loop_open_crashes_1h: int = 3
    crash_loop_clear_below_crashes_1h: int = 1  # resolves after an hour without a crash
    download_fail_open_failures: int = 3  # consecutive failures; one retry is no incident
    download_fail_clear_below_failures: int = 1  # resolves on the next successful download
    download_error_prefix: str = "download"
    # Absorbs device clock skew (`started_at` is device time, `last_seen_at` server time)
    # and the granularity of heartbeats.
    playback_stuck_grace_s: int = 120


SEVERITY: dict[IncidentType, Severity] = {
    IncidentType.OFFLINE_DURING_HOURS: Severity.CRITICAL,
    IncidentType.CRASH_LOOP: Severity.CRITICAL,
    IncidentType.PLAYBACK_STUCK: Severity.WARNING,
    IncidentType.DOWNLOAD_FAIL: Severity.WARNING,
    IncidentType.LOW_STORAGE: Severity.WARNING,
}

# Telemetry keys the rules read (the heartbeat contract in device_edge/schemas/heartbeat.py).
COUNTER_CRASHES_1H = "crashes_1h"
COUNTER_DOWNLOAD_FAILURES = "download_failures"
NOW_PLAYING_STARTED_AT = "started_at"
NOW_PLAYING_POSITION_MS = "position_ms"
NOW_PLAYING_CONTENT_ID = "content_id"
NOW_PLAYING_CONTENT_VERSION = "content_version"

OPEN_STORE_IDS = sa.bindparam("open_store_ids", type_=ARRAY(UUID(as_uuid=True)))
NOW = sa.bindparam("now", type_=sa.DateTime(timezone=True))
# Bounds (inclusive) of the device ids `device_facts(device_range=True)` covers.
FIRST_DEVICE_ID = sa.bindparam("first_device_id", type_=UUID(as_uuid=True))
LAST_DEVICE_ID = sa.bindparam("last_device_id", type_=UUID(as_uuid=True))
DEFAULT_OFFLINE_THRESHOLD_S = OFFLINE_AFTER_INTERVALS * DEFAULT_HEARTBEAT_INTERVAL_S


def started_recently(now_playing: ColumnElement[Any], t: Thresholds) -> ColumnElement[bool]:
    """A cheap, exact shortcut for the common case, so most rows skip the timestamp cast.

    Stuck needs `started_at < last_seen_at - grace <= now - grace`. When `started_at` is in
    UTC with a `Z` suffix (how the edge stores what players send in UTC), its first 19
    characters (`YYYY-MM-DDTHH:MM:SS`) compare as text with `now - grace` written the same
    way (computed once per statement); an item started at or after that cannot be stuck.
    Any other format answers false here and takes the full path.
    """
    raw = get_text(now_playing, NOW_PLAYING_STARTED_AT)
    recent_bound = sa.select(
        sa.func.to_char(
            sa.func.timezone("UTC", NOW - seconds(t.playback_stuck_grace_s)),
            'YYYY-MM-DD"T"HH24:MI:SS',
        )
    ).scalar_subquery()
    return _true(sa.and_(sa.func.right(raw, 1) == "Z", sa.func.left(raw, 19) >= recent_bound))


def playing_item_duration_ms(now_playing: ColumnElement[Any]) -> ColumnElement[Any]:
    """The duration of the content version the player reports: `content_id` plus
    `content_version`, which is the plan item's `version` number (as text) or the version
    hash. One lookup through the (content_id, version_number) index, evaluated lazily, so
    only rows that reach it pay; an id that is not a well-formed uuid reads as unknown."""
    content_id = get_text(now_playing, NOW_PLAYING_CONTENT_ID)
    version = get_text(now_playing, NOW_PLAYING_CONTENT_VERSION)
    well_formed_id = sa.case(
        (content_id.op("~")(_UUID_PATTERN), sa.cast(content_id, UUID(as_uuid=True))),
        else_=sa.null(),
    )
    return (
        sa.select(content_versions.c.duration_ms)
        .where(
            content_versions.c.content_id == well_formed_id,
            sa.or_(
                sa.cast(content_versions.c.version_number, sa.Text) == version,
                content_versions.c.version_hash == version,
            ),
        )
        .correlate_except(content_versions)
        .limit(1)
        .scalar_subquery()
    )


_UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def group_policies() -> sa.CTE:
    """Each group's effective thresholds, computed once per group (MATERIALIZED), not once
    per device row of the join.

    - `offline_threshold_s`: the group's `offline_threshold_s`, else 3 x its
      `heartbeat_interval_s` (clamped to 10..3600 s as the edge clamps it), else 3 x 60 s;
      at most MAX_OFFLINE_THRESHOLD_S;
    - `storage_cap_bytes`: the group's `storage_cap_bytes`, else NULL (no LOW_STORAGE rule).
    Non-numeric or non-positive policy values count as absent, and so does a cap outside
    1..2**63-1 bytes (no device can report more).
    """
    policy = device_groups.c.policy_json
    interval = sa.func.least(
        sa.func.greatest(
            sa.func.coalesce(
                positive(json_number(policy, "heartbeat_interval_s")),
                DEFAULT_HEARTBEAT_INTERVAL_S,
            ),
            MIN_HEARTBEAT_INTERVAL_S,
        ),
        MAX_HEARTBEAT_INTERVAL_S,
    )
    threshold = sa.func.least(
        sa.func.coalesce(
            positive(json_number(policy, "offline_threshold_s")),
            OFFLINE_AFTER_INTERVALS * interval,
        ),
        MAX_OFFLINE_THRESHOLD_S,
    )
    return (
        sa.select(
            device_groups.c.id,
            threshold.label("offline_threshold_s"),
            within(json_number(policy, "storage_cap_bytes"), 1, INT64_MAX).label(
                "storage_cap_bytes"
            ),
        )
        .cte("group_policy")
        .prefix_with("MATERIALIZED")
    )


def stale_online_devices() -> sa.Subquery:
    """OFFLINE: online devices whose last heartbeat is older than their group's threshold."""
    policy = group_policies()
    threshold = sa.func.coalesce(policy.c.offline_threshold_s, DEFAULT_OFFLINE_THRESHOLD_S)
    # No device can be stale before the shortest threshold: a bound computed once, which
    # lets PostgreSQL range-scan the last_seen_at index instead of reading every device.
    shortest = sa.select(
        sa.func.least(sa.func.min(policy.c.offline_threshold_s), DEFAULT_OFFLINE_THRESHOLD_S)
    ).scalar_subquery()
    return (
        sa.select(devices.c.id, threshold.label("offline_threshold_s"))
        .select_from(devices.outerjoin(policy, policy.c.id == devices.c.group_id))
        .where(
            devices.c.last_seen_at < NOW - seconds(shortest),
            devices.c.status == DeviceStatus.ONLINE.value,
            devices.c.last_seen_at < NOW - seconds(threshold),
        )
        .subquery("stale")
    )


def device_facts(*, device_range: bool = False) -> sa.Subquery:
    """Each device with what the rules need beyond its own row: its group's storage cap and
    whether its store is open. With `device_range`, only the devices whose id lies between
    the bind parameters `first_device_id` and `last_device_id` (a primary-key range scan:
    how the sweep judges part of the fleet when a rule failed for the whole of it).

    The open stores (the bind parameter `open_store_ids`) are tested with `IN (SELECT
    unnest(...))`, which PostgreSQL runs as a hashed subplan: a hash of the ~1,000 open
    ids probed once per device. (An outer join to the unnested array let the planner hash
    the 100,000 device rows instead, spilling to disk; `= ANY(array)` scans the array per
    row.)"""
    policy = group_policies()
    open_store_ids = sa.select(sa.func.unnest(OPEN_STORE_IDS))
    facts = sa.select(
        devices.c.id,
        devices.c.store_id,
        devices.c.group_id,
        devices.c.status,
        devices.c.status_changed_at,
        devices.c.last_seen_at,
        devices.c.disk_used_bytes,
        devices.c.now_playing_json,
        devices.c.last_error,
        devices.c.counters_json,
        policy.c.storage_cap_bytes,
        _true(devices.c.store_id.in_(open_store_ids)).label("store_open"),
    ).select_from(devices.outerjoin(policy, policy.c.id == devices.c.group_id))
    if device_range:
        facts = facts.where(devices.c.id.between(FIRST_DEVICE_ID, LAST_DEVICE_ID))
    return facts.subquery("device_facts")


@dataclass(frozen=True)
class Rule:
    type: IncidentType
    severity: Severity
    opens: ColumnElement[bool]
    holds: ColumnElement[bool]
    details: ColumnElement[Any]


def _seconds_of_ms(milliseconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """In numeric (a float would overflow on a huge reported position)."""
    return sa.cast(milliseconds, sa.Numeric) / 1000


def _true(condition: Any) -> ColumnElement[bool]:
    """NULL (unknown telemetry) counts as false."""
    return sa.func.coalesce(condition, sa.false())


def rules(c: Any, t: Thresholds, *, safe_times: bool = False) -> list[Rule]:
    """The incident rules over the columns `c` of `device_facts()` (or anything shaped like
    it). Reads the bind parameter `now`."""
    live = c.status != DeviceStatus.DECOMMISSIONED.value
    cap = c.storage_cap_bytes
    counters = c.counters_json
    download_error = c.last_error.ilike(f"{t.download_error_prefix}%")
    # Healthy players report both counters as 0: one containment test settles that for
    # most rows, instead of four key lookups (the CASE makes PostgreSQL test it first).
    quiet = counters.op("@>")(
        sa.literal_column(
            f"""'{{"{COUNTER_CRASHES_1H}": 0, "{COUNTER_DOWNLOAD_FAILURES}": 0}}'::jsonb"""
        )
    )

    def counter_at_least(key: str, bound: int) -> ColumnElement[bool]:
        return sa.case((quiet, sa.false()), else_=json_number_at_least(counters, key, bound))

    started_at = json_timestamptz(c.now_playing_json, NOW_PLAYING_STARTED_AT, safe=safe_times)
    # A lookup by the unique version hash, only for the few rows that get this far.
    item_duration_ms = playing_item_duration_ms(c.now_playing_json)
    position_ms = json_number(c.now_playing_json, NOW_PLAYING_POSITION_MS)
    # Times compared as epoch seconds in numeric: a reported position or start that no
    # interval or timestamp can hold (2**63-1 ms, year 0001 or 9999 with any offset) is just
    # a large or small number here, never an "out of range" that would stop the sweep.
    started_s = epoch_seconds(started_at)
    seen_s = epoch_seconds(c.last_seen_at)
    grace_s = t.playback_stuck_grace_s
    expected_end_s = started_s + _seconds_of_ms(item_duration_ms)
    expected_end = instant_at(expected_end_s)  # NULL when not representable
    # Stuck when (a) the item should have ended (started + duration + grace) or (b) its
    # position stopped advancing (started + position + grace), both before the latest
    # heartbeat. LEAST skips NULLs, so one comparison (and one timestamp cast per row,
    # the costly part) covers both.
    stuck_if_parsed = seen_s - grace_s > started_s + _seconds_of_ms(
        sa.func.least(item_duration_ms, position_ms)
    )
    stuck = _true(
        sa.and_(
            live,
            sa.case((started_recently(c.now_playing_json, t), sa.false()), else_=stuck_if_parsed),
        )
    )
    overran = _true(seen_s > expected_end_s + grace_s)
    offline_in_hours = _true(sa.and_(c.status == DeviceStatus.OFFLINE.value, c.store_open))

    def live_and(condition: Any) -> ColumnElement[bool]:
        return _true(sa.and_(live, _true(condition)))

    def build(kind: IncidentType, opens: Any, holds: Any, details: Any) -> Rule:
        return Rule(kind, SEVERITY[kind], opens, holds, details)

    return [
        build(
            IncidentType.OFFLINE_DURING_HOURS,
            offline_in_hours,
            offline_in_hours,
            sa.func.jsonb_build_object(
                "last_seen_at", c.last_seen_at, "offline_since", c.status_changed_at
            ),
        ),
        build(
            IncidentType.LOW_STORAGE,
            live_and(c.disk_used_bytes >= cap * t.low_storage_open_ratio),
            live_and(c.disk_used_bytes >= cap * t.low_storage_clear_ratio),
            sa.func.jsonb_build_object(
                "disk_used_bytes",
                c.disk_used_bytes,
                "storage_cap_bytes",
                cap,
                "used_percent",  # in numeric: 100 x a bigint overflows bigint
                sa.func.round(100 * sa.cast(c.disk_used_bytes, sa.Numeric) / cap, 1),
            ),
        ),
        build(
            IncidentType.DOWNLOAD_FAIL,
            live_and(
                sa.or_(
                    _true(download_error),
                    counter_at_least(COUNTER_DOWNLOAD_FAILURES, t.download_fail_open_failures),
                )
            ),
            live_and(
                sa.or_(
                    _true(download_error),
                    counter_at_least(
                        COUNTER_DOWNLOAD_FAILURES, t.download_fail_clear_below_failures
                    ),
                )
            ),
            sa.func.jsonb_build_object(
                "last_error",
                c.last_error,
                COUNTER_DOWNLOAD_FAILURES,
                clamped(json_number(counters, COUNTER_DOWNLOAD_FAILURES), -INT64_MAX, INT64_MAX),
            ),
        ),
        build(
            IncidentType.CRASH_LOOP,
            live_and(counter_at_least(COUNTER_CRASHES_1H, t.crash_loop_open_crashes_1h)),
            live_and(counter_at_least(COUNTER_CRASHES_1H, t.crash_loop_clear_below_crashes_1h)),
            sa.func.jsonb_build_object(
                COUNTER_CRASHES_1H,
                clamped(json_number(counters, COUNTER_CRASHES_1H), -INT64_MAX, INT64_MAX),
            ),
        ),
        build(
            IncidentType.PLAYBACK_STUCK,
            stuck,
            stuck,
            sa.func.jsonb_build_object(
                "now_playing",
                c.now_playing_json,
                "item_duration_ms",
                item_duration_ms,
                "expected_end_at",
                expected_end,
                "reason",
                sa.case((overran, "overran"), else_="position_stalled"),
            ),
        ),
    ]


def resolution_reason(c: Any, incident_type: ColumnElement[str]) -> ColumnElement[str]:
    """Why an incident cleared by itself, stored in `details_json.resolution.reason`."""
    return sa.case(
        (c.status == DeviceStatus.DECOMMISSIONED.value, "device_decommissioned"),
        (
            sa.and_(
                incident_type == IncidentType.OFFLINE_DURING_HOURS.value,
                c.status != DeviceStatus.OFFLINE.value,
            ),
            "device_online",
        ),
        (incident_type == IncidentType.OFFLINE_DURING_HOURS.value, "store_closed"),
        else_="condition_cleared",
    )
